//! Planning vendor requests and reading vendor answers, for unified operations, discovery and
//! the proxy.
//!
//! Everything here is a pure function of the compiled connector, a [`RequestContext`], a
//! [`PageState`] and a [`VendorResponse`]: no IO and no clock. Request mappings (`when`,
//! `query_mapping`, `body_mapping`) see the context object `{query, body, id, account, vars,
//! fields, page}`; record mappings see one raw record as input, with `$account`, `$vars`,
//! `$fields` and `$query` bound; error rules see `{status, headers, body}`.

mod bulk;

use std::sync::Arc;

pub use bulk::{BulkPage, BulkResults, BulkState};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use mapping::{Expr, MappingError, Vars};

use crate::file::{ErrorAction, ErrorCode, HttpMethod, Pagination, Param, ParamLocation};
use crate::template::{Escape, TemplateError};
use crate::{
    CompiledAuth, CompiledEnrich, CompiledMethod, CompiledPagination, CompiledRoute, Connector,
    Operation,
};

/// What a unified request knows, as seen by a connector's mappings.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The connection's non-secret fields (`instance_url`, `auth_scheme`, …).
    pub account: Value,
    /// The normalised unified query (`email`, `updated_after`, `ids`, …).
    pub query: Value,
    /// The unified body of a write.
    pub body: Option<Value>,
    /// An update with `merge_current`: the caller's own body, before it was merged over the
    /// current record into `body` (mappings see it as `given`, which is `body` otherwise), so
    /// that a mapping can tell a field the caller sent from one it kept.
    pub given: Option<Value>,
    /// The vendor id of the record a get, update or delete targets.
    pub id: Option<String>,
    /// Discovered fields: `{all: [field…], custom: [field…]}`.
    pub fields: Value,
    /// Records wanted per page (bounded by the method's maximum).
    pub page_size: u64,
}

/// Where a paged walk stands. Serialised into the opaque cursor given to callers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum PageState {
    /// The first page.
    #[default]
    Start,
    /// A vendor token for the next page.
    Token { t: String },
    /// A keyset window: keys after `a`, inner token `t`, `n` records already read in the window.
    Keyset {
        #[serde(default)]
        a: Option<Value>,
        #[serde(default)]
        t: Option<String>,
        #[serde(default)]
        n: u64,
    },
    /// A record offset.
    Offset { o: u64 },
    /// A page number.
    Page { p: u64 },
    /// The next page's URL.
    Url { u: String },
    /// A page of a single answer Crosswalk pages itself: records whose keys follow `a`.
    Local { a: Value },
    /// A date window (`windows`): the window starting `w`, inner token `t`, of the walk from
    /// `s` to `e` (days, `YYYY-MM-DD`, fixed when the walk started).
    Window {
        w: String,
        s: String,
        e: String,
        #[serde(default)]
        t: Option<String>,
    },
}

/// Where a unified list stands: which of its routes (for `walk: all`) and where in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ListCursor {
    /// Index among the routes whose `when` holds.
    #[serde(default)]
    pub r: usize,
    /// Position inside that route's paging.
    #[serde(default)]
    pub p: PageState,
}

/// A vendor HTTP request, ready for `provider-http` to authenticate and send.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRequest {
    /// `resource.method` this request calls (for rate-limit matching and logs); `proxy` for the proxy.
    pub uses: String,
    pub http_method: HttpMethod,
    /// Absolute URL without the query string.
    pub url: String,
    /// Query parameters, in order, not yet encoded.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: RequestBody,
}

/// One follow-up request of a route's `enrich` entry, as [`Connector::plan_list_enrichment`]
/// and [`Connector::plan_record_enrichment`] plan them. Its answer is read tagged with `entry`.
/// For an entry that reads every page (`all_pages`), [`Connector::plan_next_enrichment`] plans
/// the next page from this request and its answer.
#[derive(Debug, Clone)]
pub struct EnrichmentRequest {
    /// The entry's index among the route's `enrich` entries.
    pub entry: usize,
    pub request: PlannedRequest,
    /// What the next page is planned from: the page records the request covers, the `{{id}}`
    /// it was planned with, and its page.
    group: Value,
    /// What the list page's mappings saw as `page` (null for a get's enrichment): the entry's
    /// mappings see it as `list_page`.
    list_page: Value,
    id: Option<String>,
    page: PageState,
    all_pages: bool,
}

impl EnrichmentRequest {
    /// Whether its entry reads every page (`all_pages`): only then may its answer have a next
    /// page to ask for ([`Connector::plan_next_enrichment`]).
    pub fn reads_every_page(&self) -> bool {
        self.all_pages
    }
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    None,
    Json(Value),
    Form(Vec<(String, String)>),
    Raw(Vec<u8>),
}

/// A vendor answer, as `provider-http` received it.
///
/// It remembers its classification by the connector's error rules ([`Connector::classify`]), so
/// an answer is judged once however many steps read it (retry decision, breaker outcome, the
/// read of its records).
#[derive(Debug, Clone)]
pub struct VendorResponse {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, or a JSON string of the raw text, or null when empty.
    pub body: Value,
    /// The classification and the connector that made it (its identity).
    classified: std::sync::OnceLock<(usize, Option<ProviderError>)>,
    /// The body's bytes as received, kept for the proxy (which must not re-serialise them).
    raw_body: Option<Arc<[u8]>>,
}

/// The `uses` of a proxied request: its answer keeps its raw bytes.
pub const PROXY_USES: &str = "proxy";

impl PartialEq for VendorResponse {
    fn eq(&self, other: &VendorResponse) -> bool {
        self.status == other.status && self.headers == other.headers && self.body == other.body
    }
}

impl VendorResponse {
    /// An answer with `status`, `headers` (names lowercased) and `body`.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Value) -> VendorResponse {
        VendorResponse {
            status,
            headers,
            body,
            classified: std::sync::OnceLock::new(),
            raw_body: None,
        }
    }

    /// The answer with its body's bytes as received kept beside the parsed body.
    pub fn with_raw_body(mut self, bytes: Arc<[u8]>) -> VendorResponse {
        self.raw_body = Some(bytes);
        self
    }

    /// The body's bytes as received, when they were kept ([`PROXY_USES`] requests).
    pub fn raw_body(&self) -> Option<&[u8]> {
        self.raw_body.as_deref()
    }

    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn as_input(&self) -> Value {
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            headers
                .entry(name.to_ascii_lowercase())
                .or_insert_with(|| Value::String(value.clone()));
        }
        json!({"status": self.status, "headers": headers, "body": self.body})
    }
}

/// A vendor error, classified by the connector's rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderError {
    pub code: ErrorCode,
    pub action: ErrorAction,
    /// The rule that matched, if any.
    pub rule: Option<String>,
    pub status: u16,
    pub vendor_code: Option<String>,
    pub message: Option<String>,
    /// The field the vendor refused, when `errors.field_expr` names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The parts of the caller's request a route's `when` reads: each `body.<name>` and
/// `query.<name>` path it names (its first step), in order of appearance.
fn request_inputs(source: &str) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut inputs = Vec::new();
    for root in ["body.", "query."] {
        let mut from = 0;
        while let Some(found) = source[from..].find(root) {
            let start = from + found;
            from = start + root.len();
            // `$x.body.` or `mybody.` is not the request's body.
            let preceded = source[..start]
                .chars()
                .next_back()
                .is_some_and(|c| is_name(c) || c == '.' || c == '$');
            let name: String = source[from..].chars().take_while(|c| is_name(*c)).collect();
            if !preceded && !name.is_empty() {
                inputs.push((start, format!("{root}{name}")));
            }
        }
    }
    inputs.sort();
    inputs.into_iter().map(|(_, input)| input).collect()
}

/// Whether a route's `when` reads the request's record id (`id`, not a field of something
/// else such as `body.id` or `$x.id`).
fn reads_request_id(source: &str) -> bool {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    source.match_indices("id").any(|(start, _)| {
        let preceded = source[..start]
            .chars()
            .next_back()
            .is_some_and(|c| is_name(c) || c == '.' || c == '$');
        let followed = source[start + 2..].chars().next().is_some_and(is_name);
        !preceded && !followed
    })
}

/// A request that could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("`{object}` does not support `{operation}`")]
    Unsupported {
        object: String,
        operation: &'static str,
    },
    /// No route's `when` holds for the caller's request. `inputs` names what the routes'
    /// `when`s read of the request (`body.type`, `query.updated_after`), in file order; none
    /// means they read only the record id, so no record of that id can exist.
    #[error("no route of `{object}.{operation}` accepts this request")]
    NoRoute {
        object: String,
        operation: &'static str,
        inputs: Vec<String>,
    },
    #[error("route `{0}` does not exist")]
    UnknownRoute(String),
    #[error("auth scheme `{0}` does not exist")]
    UnknownScheme(String),
    #[error("{what}: {source}")]
    Template {
        what: String,
        #[source]
        source: TemplateError,
    },
    #[error("{what}: {source}")]
    Mapping {
        what: String,
        #[source]
        source: MappingError,
    },
    #[error("{0}")]
    Invalid(String),
}

/// An answer that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("provider error `{}` (status {})", .0.code.as_str(), .0.status)]
    Provider(ProviderError),
    #[error("{what}: {source}")]
    Mapping {
        what: String,
        #[source]
        source: MappingError,
    },
    #[error("{0}")]
    Invalid(String),
    /// The vendor answered a get, but its answer holds no record: a get that reads one record
    /// by filtering a list (a vendor with no read of a single record) asked for an id the
    /// vendor does not hold.
    #[error("{0}")]
    NotFound(String),
}

/// A record of a page that failed to map; the rest of the page is still served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordError {
    /// Position in the vendor page.
    pub index: usize,
    /// The vendor id, when the primary key could be read.
    pub remote_id: Option<String>,
    /// What went wrong, for programs: the mapping error's code (`D1017` when the request's
    /// evaluation budget ran out, `U1006` at a per-evaluation limit, ...) or
    /// [`RecordError::NOT_AN_OBJECT`] or [`RecordError::NO_SORT_KEY`].
    pub code: String,
    pub message: String,
}

impl RecordError {
    /// The record mapping gave something other than an object.
    pub const NOT_AN_OBJECT: &'static str = "not_an_object";
    /// A record of a `local`-paged answer has no sort key, so it has no place in the pages.
    pub const NO_SORT_KEY: &'static str = "no_sort_key";
}

/// One page of a unified list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// Mapped records, with the raw vendor record of each.
    pub records: Vec<(Value, Value)>,
    pub errors: Vec<RecordError>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<ListCursor>,
}

/// A vendor field found by discovery, in one normalised shape.
///
/// `key` is the field's stable unified name: the key of `custom_fields`, of `/meta` and of
/// `/fields`. `vendor_key` is what the vendor calls it, when a connector's field mapping names
/// it differently (a hashed key read by its label); mappings reach vendor payloads through it.
/// Keys are unique per object: when a field mapping gives two fields one key, the later keeps
/// its vendor key instead, so a record never has two values under one name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveredField {
    pub key: String,
    /// The vendor's own key of the field; the `key` when the mapping gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_key: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    /// The unified type: `string`, `number`, `integer`, `boolean`, `date`, `datetime`,
    /// `enum`, `multi_enum`, `reference`, `object` or `array`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The vendor's own name of the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_type: Option<String>,
    #[serde(default)]
    pub custom: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub options: Vec<Value>,
}

impl DiscoveredField {
    /// The vendor's own key of the field.
    pub fn vendor_key(&self) -> &str {
        self.vendor_key.as_deref().unwrap_or(&self.key)
    }

    /// Writes the vendor key out (the `key` when the mapping gave none).
    fn fill_vendor_key(&mut self) {
        if self.vendor_key.is_none() {
            self.vendor_key = Some(self.key.clone());
        }
    }
}

/// Gives every field its vendor key and makes the unified keys unique: a field whose key an
/// earlier field already has is keyed by its vendor key instead (and, were that taken too, by
/// the key with `_` and its position appended).
fn normalise_fields(fields: &mut [DiscoveredField]) {
    let mut seen = std::collections::HashSet::new();
    for (idx, field) in fields.iter_mut().enumerate() {
        field.fill_vendor_key();
        if !seen.contains(&field.key) {
            seen.insert(field.key.clone());
            continue;
        }
        let vendor = field.vendor_key().to_owned();
        field.key = if seen.contains(&vendor) {
            format!("{}_{idx}", field.key)
        } else {
            vendor
        };
        seen.insert(field.key.clone());
    }
}

/// The `fields` binding mappings see, built from discovered fields: `all` and `custom`, each
/// field with its `vendor_key` filled in.
pub fn fields_binding(fields: &[DiscoveredField]) -> Value {
    // Fields cached before vendor keys existed have none.
    let mut fields = fields.to_vec();
    fields.iter_mut().for_each(DiscoveredField::fill_vendor_key);
    let all = serde_json::to_value(&fields).unwrap_or_else(|_| Value::Array(Vec::new()));
    let custom: Vec<&DiscoveredField> = fields.iter().filter(|field| field.custom).collect();
    json!({"all": all, "custom": custom})
}

fn mapping_error(what: impl Into<String>) -> impl FnOnce(MappingError) -> PlanError {
    let what = what.into();
    move |source| PlanError::Mapping { what, source }
}

fn read_mapping_error(what: impl Into<String>) -> impl FnOnce(MappingError) -> ReadError {
    let what = what.into();
    move |source| ReadError::Mapping { what, source }
}

fn template_error(what: impl Into<String>) -> impl FnOnce(TemplateError) -> PlanError {
    let what = what.into();
    move |source| PlanError::Template { what, source }
}

/// Renders a JSON value as query-parameter text.
fn param_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        other => Some(other.to_string()),
    }
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(Value::Number(number)) => number.as_f64().is_some_and(|n| n != 0.0),
        Some(Value::String(text)) => !text.is_empty(),
        Some(Value::Array(items)) => items.iter().any(|item| truthy(Some(item))),
        Some(Value::Object(_)) => true,
    }
}

fn token_text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::String(text) if !text.is_empty() => Some(text),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

impl Connector {
    fn template_scope(
        &self,
        account: &Value,
        id: Option<&str>,
        credentials: Option<&Value>,
    ) -> Value {
        json!({
            "account": account,
            "vars": self.inner.file.vars,
            "id": id,
            "credentials": credentials.cloned().unwrap_or(Value::Null),
            "env": {},
        })
    }

    fn base_url(&self, scope: &Value) -> Result<String, PlanError> {
        let base = self
            .inner
            .base_url
            .render(scope, &self.inner.file.lookups, Escape::None)
            .map_err(template_error("http.base_url"))?;
        Ok(base.trim_end_matches('/').to_owned())
    }

    fn operation(
        &self,
        object: &str,
        operation: Operation,
    ) -> Result<&crate::CompiledOperation, PlanError> {
        self.inner
            .unified
            .get(object)
            .and_then(|ops| ops.get(&operation))
            .ok_or_else(|| PlanError::Unsupported {
                object: object.to_owned(),
                operation: operation.as_str(),
            })
    }

    fn mapping_input(&self, ctx: &RequestContext, page: Value) -> Value {
        json!({
            "query": ctx.query,
            "body": ctx.body,
            "given": ctx.given.as_ref().or(ctx.body.as_ref()),
            "id": ctx.id,
            "account": ctx.account,
            "vars": self.inner.file.vars,
            "fields": ctx.fields,
            "page": page,
        })
    }

    fn record_vars(&self, ctx: &RequestContext) -> Vars {
        Vars::new()
            .with("account", ctx.account.clone())
            .with(
                "vars",
                Value::Object(self.inner.file.vars.clone().into_iter().collect()),
            )
            .with("fields", ctx.fields.clone())
            .with("query", ctx.query.clone())
    }

    /// `page` with a `windows` walk's start made concrete: at the first page, the walk's
    /// first and last days are evaluated (`start_expr`, `end_expr`; today when absent) and the
    /// walk starts at its first window. Every other page is returned as it is.
    ///
    /// # Errors
    /// Fails when an expression fails or gives no date.
    fn resolve_page(
        &self,
        method: &CompiledMethod,
        ctx: &RequestContext,
        page: &PageState,
    ) -> Result<PageState, PlanError> {
        let (PageState::Start, CompiledPagination::Windows { start, end, .. }) =
            (page, &method.pagination)
        else {
            return Ok(page.clone());
        };
        let input = self.mapping_input(ctx, Value::Null);
        let day = |expr: &Expr, what: &str| -> Result<chrono::NaiveDate, PlanError> {
            let value = expr
                .evaluate(Some(&input), &Vars::new())
                .map_err(mapping_error(format!("pagination {what}")))?;
            value
                .as_ref()
                .and_then(Value::as_str)
                .and_then(|text| text.get(..10))
                .and_then(|text| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
                .ok_or_else(|| {
                    PlanError::Invalid(format!(
                        "pagination {what} gave {} instead of a date (YYYY-MM-DD)",
                        value.map_or("nothing".to_owned(), |value| value.to_string())
                    ))
                })
        };
        let first = day(start, "start_expr")?;
        let last = match end {
            Some(end) => day(end, "end_expr")?,
            None => day(&self.inner.today, "end (today)")?,
        };
        // A walk whose start follows its end walks its last day only.
        let first = first.min(last);
        Ok(PageState::Window {
            w: first.to_string(),
            s: first.to_string(),
            e: last.to_string(),
            t: None,
        })
    }

    /// The routes serving a unified request: the first whose `when` holds, or with
    /// `walk: all` every one whose `when` holds, in file order.
    fn matching_routes<'a>(
        &'a self,
        object: &str,
        operation: Operation,
        ctx: &RequestContext,
    ) -> Result<Vec<&'a CompiledRoute>, PlanError> {
        let compiled = self.operation(object, operation)?;
        let input = self.mapping_input(ctx, Value::Null);
        let mut matching = Vec::new();
        for route in &compiled.routes {
            let held = match &route.when {
                None => true,
                Some(when) => truthy(
                    when.evaluate(Some(&input), &Vars::new())
                        .map_err(mapping_error(format!("route `{}` when", route.id)))?
                        .as_ref(),
                ),
            };
            if held {
                matching.push(route);
                if compiled.walk == crate::file::RouteWalk::First {
                    break;
                }
            }
        }
        if matching.is_empty() {
            let mut inputs: Vec<String> = Vec::new();
            for when in compiled
                .routes
                .iter()
                .filter_map(|route| route.when.as_ref())
            {
                for input in request_inputs(when.source()) {
                    if !inputs.contains(&input) {
                        inputs.push(input);
                    }
                }
            }
            // What the request gives comes first: a route refusing a field the caller sent
            // (a call has no location) is named by that field, not by one the caller left out.
            let given = |path: &String| {
                path.split_once('.').is_some_and(|(root, name)| {
                    input.get(root).and_then(|part| part.get(name)).is_some()
                })
            };
            inputs.sort_by_key(|path| !given(path));
            // A record's routes are chosen by its id: a body field the caller left out is not
            // what kept every route from taking the request (an id no route knows is). Nor is
            // one it sent, when the routes read the id and none takes it even with no body at
            // all: no record of that kind can have this id, whatever the body says.
            if ctx.id.is_some() {
                let mut bare = input.clone();
                bare["body"] = json!({});
                bare["given"] = json!({});
                let taken_without_body = compiled.routes.iter().any(|route| {
                    route.when.as_ref().is_none_or(|when| {
                        when.evaluate(Some(&bare), &Vars::new())
                            .is_ok_and(|held| truthy(held.as_ref()))
                    })
                });
                let reads_id = compiled
                    .routes
                    .iter()
                    .filter_map(|route| route.when.as_ref())
                    .any(|when| reads_request_id(when.source()));
                if reads_id && !taken_without_body {
                    inputs.retain(|path| !path.starts_with("body."));
                } else {
                    inputs.retain(|path| !path.starts_with("body.") || given(path));
                }
            }
            return Err(PlanError::NoRoute {
                object: object.to_owned(),
                operation: operation.as_str(),
                inputs,
            });
        }
        Ok(matching)
    }

    fn choose_route<'a>(
        &'a self,
        object: &str,
        operation: Operation,
        ctx: &RequestContext,
    ) -> Result<&'a CompiledRoute, PlanError> {
        Ok(self.matching_routes(object, operation, ctx)?[0])
    }

    fn list_route<'a>(
        &'a self,
        object: &str,
        ctx: &RequestContext,
        cursor: &ListCursor,
    ) -> Result<(&'a CompiledRoute, usize), PlanError> {
        let routes = self.matching_routes(object, Operation::List, ctx)?;
        let count = routes.len();
        routes
            .get(cursor.r)
            .map(|route| (*route, count))
            .ok_or_else(|| PlanError::UnknownRoute(format!("#{}", cursor.r)))
    }

    /// Plans the vendor request of one page of a unified list.
    ///
    /// # Errors
    /// As [`Connector::plan`].
    pub fn plan_list(
        &self,
        object: &str,
        ctx: &RequestContext,
        cursor: &ListCursor,
    ) -> Result<PlannedRequest, PlanError> {
        let (route, _) = self.list_route(object, ctx, cursor)?;
        // As in `plan_list_requests`: a list under a parent's URL takes its `id_mapping`.
        self.plan_route(route, ctx, &cursor.p)
    }

    /// Plans the vendor requests of one page of a unified list: one, or with the route's
    /// `chunk` one per slice of the chunked parameter, all for the same page. Read their
    /// answers, in the same order, with [`Connector::read_list_parts`].
    ///
    /// # Errors
    /// As [`Connector::plan`], and when one item of a chunked list is longer than a chunk.
    pub fn plan_list_requests(
        &self,
        object: &str,
        ctx: &RequestContext,
        cursor: &ListCursor,
    ) -> Result<Vec<PlannedRequest>, PlanError> {
        let (route, _) = self.list_route(object, ctx, cursor)?;
        // A list under a parent record's URL (`/employees/{{id}}/balances`) takes the parent's
        // id from the route's `id_mapping`.
        let request = self.plan_route(route, ctx, &cursor.p)?;
        crate::chunk::split(route.chunk.as_ref(), request)
    }

    /// Whether some list route of `object` declares `enrich` (follow-up requests per page).
    pub fn list_enriches(&self, object: &str) -> bool {
        self.operation(object, Operation::List)
            .is_ok_and(|op| op.routes.iter().any(|route| !route.enrich.is_empty()))
    }

    /// Plans the follow-up requests of a list page whose route declares `enrich`: for each
    /// entry, one request per group of at most `max_items` of the page's raw records, tagged
    /// with the entry's index. Send them and read the page with
    /// [`Connector::read_list_enriched`]. A page the vendor refused, or whose records cannot be
    /// read, plans nothing: reading it reports why.
    ///
    /// # Errors
    /// Fails when no route serves the request or an entry's mapping or template fails.
    pub fn plan_list_enrichment(
        &self,
        object: &str,
        ctx: &RequestContext,
        cursor: &ListCursor,
        responses: &[VendorResponse],
    ) -> Result<Vec<EnrichmentRequest>, PlanError> {
        let (route, _) = self.list_route(object, ctx, cursor)?;
        if route.enrich.is_empty() || responses.iter().any(|each| self.check(each).is_err()) {
            return Ok(Vec::new());
        }
        let Some(Ok(records)) = responses
            .first()
            .map(|response| extract_records(&route.method, &response.body))
        else {
            return Ok(Vec::new());
        };
        let page_size = route
            .method
            .raw
            .pagination
            .page_size()
            .map_or(ctx.page_size, |bounds| ctx.page_size.clamp(1, bounds.max));
        let page = self.resolve_page(&route.method, ctx, &cursor.p)?;
        let list_page = page_view(&route.method.raw.pagination, &page, page_size);
        self.plan_enrichment(route, ctx, &records, &list_page)
    }

    /// Whether some get route of `object` declares `enrich` (follow-up requests per record).
    pub fn get_enriches(&self, object: &str) -> bool {
        self.operation(object, Operation::Get)
            .is_ok_and(|op| op.routes.iter().any(|route| !route.enrich.is_empty()))
    }

    /// Plans the follow-up requests of a get whose route declares `enrich`, as
    /// [`Connector::plan_list_enrichment`] does for a page of one record: send them and read
    /// the record with [`Connector::read_record_enriched`]. An answer that is a vendor error,
    /// or holds no record, plans nothing: reading it reports why.
    ///
    /// # Errors
    /// Fails when no route serves the request or an entry's mapping or template fails.
    pub fn plan_record_enrichment(
        &self,
        object: &str,
        ctx: &RequestContext,
        responses: &[VendorResponse],
    ) -> Result<Vec<EnrichmentRequest>, PlanError> {
        let route = self.choose_route(object, Operation::Get, ctx)?;
        if route.enrich.is_empty() || responses.iter().any(|each| self.check(each).is_err()) {
            return Ok(Vec::new());
        }
        let Some(response) = responses.first() else {
            return Ok(Vec::new());
        };
        let record = match &route.method.record {
            Some(extract) => extract
                .evaluate(Some(&response.body), &Vars::new())
                .ok()
                .flatten(),
            None => Some(response.body.clone()),
        };
        match record {
            Some(record) => self.plan_enrichment(route, ctx, &[record], &Value::Null),
            None => Ok(Vec::new()),
        }
    }

    /// One route's follow-up requests for `records`: for each entry, one request per group of
    /// at most `max_items` records, tagged with the entry's index.
    fn plan_enrichment(
        &self,
        route: &CompiledRoute,
        ctx: &RequestContext,
        records: &[Value],
        list_page: &Value,
    ) -> Result<Vec<EnrichmentRequest>, PlanError> {
        let mut plans = Vec::new();
        for (idx, entry) in route.enrich.iter().enumerate() {
            for group in records.chunks(entry.max_items) {
                let group = Value::Array(group.to_vec());
                let id = match &entry.route.id_mapping {
                    None => None,
                    Some(id_mapping) => {
                        let mut input = self.mapping_input(ctx, Value::Null);
                        if let Value::Object(map) = &mut input {
                            map.insert("records".to_owned(), group.clone());
                            map.insert("list_page".to_owned(), list_page.clone());
                        }
                        token_text(id_mapping.evaluate(Some(&input), &Vars::new()).map_err(
                            mapping_error(format!("route `{}` id_mapping", entry.route.id)),
                        )?)
                    }
                };
                plans.push(self.plan_enrichment_page(
                    idx,
                    entry,
                    ctx,
                    (group, list_page.clone()),
                    id,
                    PageState::Start,
                )?);
            }
        }
        Ok(plans)
    }

    /// One page of an `enrich` entry's request for `group`. An entry reading every page asks
    /// for the largest page its method allows.
    fn plan_enrichment_page(
        &self,
        idx: usize,
        entry: &CompiledEnrich,
        ctx: &RequestContext,
        (group, list_page): (Value, Value),
        id: Option<String>,
        page: PageState,
    ) -> Result<EnrichmentRequest, PlanError> {
        let page_size = match entry.method.raw.pagination.page_size() {
            Some(bounds) if entry.all_pages => bounds.max,
            _ => ctx.page_size,
        };
        let with_id = RequestContext {
            id: if entry.route.id_mapping.is_some() {
                id.clone()
            } else {
                ctx.id.clone()
            },
            page_size,
            ..ctx.clone()
        };
        let request = self.plan_method_with(
            &entry.method,
            &entry.uses,
            Some(&entry.route),
            &with_id,
            &page,
            Some((group.clone(), list_page.clone())),
        )?;
        Ok(EnrichmentRequest {
            entry: idx,
            request,
            group,
            list_page,
            id,
            page,
            all_pages: entry.all_pages,
        })
    }

    /// The next page of an `enrich` request whose entry reads every page (`all_pages`),
    /// planned from the request sent and its answer: `None` when the answer was the last page,
    /// the entry reads one page, or the answer is a vendor error or unreadable (reading the
    /// page or record reports why). `cursor` is the list page's (for a list's enrichment);
    /// `None` for a get's.
    ///
    /// # Errors
    /// Fails when no route serves the request, or the answer's paging or the entry's
    /// mappings cannot be evaluated.
    pub fn plan_next_enrichment(
        &self,
        object: &str,
        ctx: &RequestContext,
        cursor: Option<&ListCursor>,
        sent: &EnrichmentRequest,
        answer: &VendorResponse,
    ) -> Result<Option<EnrichmentRequest>, PlanError> {
        let route = match cursor {
            Some(cursor) => self.list_route(object, ctx, cursor)?.0,
            None => self.choose_route(object, Operation::Get, ctx)?,
        };
        let Some(entry) = route.enrich.get(sent.entry) else {
            return Err(PlanError::Invalid(format!(
                "an enrichment request for entry {}, which the route does not declare",
                sent.entry
            )));
        };
        if !entry.all_pages || self.check(answer).is_err() {
            return Ok(None);
        }
        let Ok(records) = extract_records(&entry.method, &answer.body) else {
            return Ok(None);
        };
        let page_size = entry
            .method
            .raw
            .pagination
            .page_size()
            .map_or(ctx.page_size, |bounds| bounds.max);
        let next = next_page(&entry.method, &sent.page, page_size, &records, answer)
            .map_err(|error| PlanError::Invalid(format!("enrich `{}`: {error}", entry.uses)))?;
        match next {
            None => Ok(None),
            Some(page) => self
                .plan_enrichment_page(
                    sent.entry,
                    entry,
                    ctx,
                    (sent.group.clone(), sent.list_page.clone()),
                    sent.id.clone(),
                    page,
                )
                .map(Some),
        }
    }

    /// The id of the route that would serve this request.
    ///
    /// # Errors
    /// As [`Connector::plan`].
    pub fn route_id(
        &self,
        object: &str,
        operation: Operation,
        ctx: &RequestContext,
    ) -> Result<String, PlanError> {
        Ok(self.choose_route(object, operation, ctx)?.id.clone())
    }

    /// Plans the vendor request of a unified operation at `page`.
    ///
    /// # Errors
    /// Fails when the operation is unsupported, no route accepts the request, or a template
    /// or mapping fails.
    pub fn plan(
        &self,
        object: &str,
        operation: Operation,
        ctx: &RequestContext,
        page: &PageState,
    ) -> Result<PlannedRequest, PlanError> {
        let route = self.choose_route(object, operation, ctx)?;
        self.plan_route(route, ctx, page)
    }

    /// Plans the vendor requests of a unified operation at `page`: one, or for a get whose
    /// route declares `chunk` one per slice of the chunked parameter. Read their answers, in
    /// the same order, with [`Connector::read_record_parts`].
    ///
    /// # Errors
    /// As [`Connector::plan`], and when one item of a chunked list is longer than a chunk.
    pub fn plan_requests(
        &self,
        object: &str,
        operation: Operation,
        ctx: &RequestContext,
        page: &PageState,
    ) -> Result<Vec<PlannedRequest>, PlanError> {
        let route = self.choose_route(object, operation, ctx)?;
        let request = self.plan_route(route, ctx, page)?;
        crate::chunk::split(route.chunk.as_ref(), request)
    }

    fn plan_route(
        &self,
        route: &CompiledRoute,
        ctx: &RequestContext,
        page: &PageState,
    ) -> Result<PlannedRequest, PlanError> {
        match &route.id_mapping {
            None => self.plan_method(&route.method, &route.uses, Some(route), ctx, page),
            Some(id_mapping) => {
                let input = self.mapping_input(ctx, Value::Null);
                let vendor_id = token_text(
                    id_mapping
                        .evaluate(Some(&input), &Vars::new())
                        .map_err(mapping_error(format!("route `{}` id_mapping", route.id)))?,
                );
                let mapped = RequestContext {
                    id: vendor_id,
                    ..ctx.clone()
                };
                self.plan_method(&route.method, &route.uses, Some(route), &mapped, page)
            }
        }
    }

    fn plan_method(
        &self,
        method: &CompiledMethod,
        uses: &str,
        route: Option<&CompiledRoute>,
        ctx: &RequestContext,
        page: &PageState,
    ) -> Result<PlannedRequest, PlanError> {
        self.plan_method_with(method, uses, route, ctx, page, None)
    }

    /// [`Connector::plan_method`] with `records` (an enrichment's group of raw records) added to
    /// what the route's mappings see.
    fn plan_method_with(
        &self,
        method: &CompiledMethod,
        uses: &str,
        route: Option<&CompiledRoute>,
        ctx: &RequestContext,
        page: &PageState,
        records: Option<(Value, Value)>,
    ) -> Result<PlannedRequest, PlanError> {
        let scope = self.template_scope(&ctx.account, ctx.id.as_deref(), None);
        let lookups = &self.inner.file.lookups;
        let page_size = method
            .raw
            .pagination
            .page_size()
            .map_or(ctx.page_size, |bounds| ctx.page_size.clamp(1, bounds.max));
        let resolved = self.resolve_page(method, ctx, page)?;
        let page = &resolved;
        let page_view = page_view(&method.raw.pagination, page, page_size);
        let mut input = self.mapping_input(ctx, page_view.clone());
        if let (Some(records), Value::Object(map)) = (records, &mut input) {
            let (records, list_page) = records;
            map.insert("records".to_owned(), records);
            map.insert("list_page".to_owned(), list_page);
        }

        let mut headers = Vec::new();
        for (name, template) in self.inner.headers.iter().chain(&method.headers) {
            let value = template
                .render(&scope, lookups, Escape::None)
                .map_err(template_error(format!("header `{name}`")))?;
            headers.retain(|(existing, _): &(String, String)| !existing.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value));
        }

        let (url, mut query) = if let PageState::Url { u } = page {
            (self.resolve_next_url(&scope, u)?, Vec::new())
        } else {
            let path = method
                .path
                .render(&scope, lookups, Escape::PathSegment)
                .map_err(template_error(format!("`{uses}` path")))?;
            let url = if path.starts_with("http://") || path.starts_with("https://") {
                path
            } else if let Some(base) = &method.base_url {
                let base = base
                    .render(&scope, lookups, Escape::None)
                    .map_err(template_error(format!("`{uses}` base_url")))?;
                format!("{}{}", base.trim_end_matches('/'), path)
            } else {
                format!("{}{}", self.base_url(&scope)?, path)
            };
            let mut query = Vec::new();
            for (name, template) in &method.query {
                let value = template
                    .render(&scope, lookups, Escape::None)
                    .map_err(template_error(format!("`{uses}` query `{name}`")))?;
                query.push((name.clone(), value));
            }
            if let Some(mapping) = route.and_then(|route| route.query_mapping.as_ref()) {
                let mapped = mapping
                    .evaluate(Some(&input), &Vars::new())
                    .map_err(mapping_error(format!("`{uses}` query_mapping")))?;
                merge_query(&mut query, mapped)?;
            }
            (url, query)
        };

        let mut body = match method.raw.body_format {
            crate::file::BodyFormat::None => RequestBody::None,
            format => {
                let mut mapped = match route.and_then(|route| route.body_mapping.as_ref()) {
                    Some(mapping) => mapping
                        .evaluate(Some(&input), &Vars::new())
                        .map_err(mapping_error(format!("`{uses}` body_mapping")))?,
                    None => None,
                };
                // A write's `remote_data` is merged over the mapped body: vendor fields the
                // unified model does not cover, sent as they are.
                if let Some(Value::Object(extra)) =
                    ctx.body.as_ref().and_then(|body| body.get("remote_data"))
                    && !extra.is_empty()
                {
                    let mut merged = match mapped.take() {
                        Some(Value::Object(map)) => Value::Object(map),
                        _ => Value::Object(Map::new()),
                    };
                    crate::load::deep_merge(&mut merged, &Value::Object(extra.clone()));
                    mapped = Some(merged);
                }
                let has_mapping = route.is_some_and(|route| route.body_mapping.is_some());
                match (format, mapped) {
                    // A JSON method whose body mapping left nothing (every field empty) still
                    // sends a JSON document: the vendor parses the body it expects.
                    (crate::file::BodyFormat::Json, None) if has_mapping => {
                        RequestBody::Json(Value::Object(Map::new()))
                    }
                    (_, None) => RequestBody::None,
                    (crate::file::BodyFormat::Form, Some(value)) => {
                        let mut pairs = Vec::new();
                        merge_query(&mut pairs, Some(value))?;
                        RequestBody::Form(pairs)
                    }
                    (_, Some(value)) => RequestBody::Json(value),
                }
            }
        };

        // A route's header mapping is placed over the file's and the method's headers, on
        // every page (headers travel outside a next-page URL).
        if let Some(mapping) = route.and_then(|route| route.header_mapping.as_ref()) {
            let mapped = mapping
                .evaluate(Some(&input), &Vars::new())
                .map_err(mapping_error(format!("`{uses}` header_mapping")))?;
            let mut pairs = Vec::new();
            merge_query(&mut pairs, mapped).map_err(|_| {
                PlanError::Invalid(format!("`{uses}` header_mapping must give an object"))
            })?;
            for (name, value) in pairs {
                headers.retain(|(existing, _): &(String, String)| {
                    !existing.eq_ignore_ascii_case(&name)
                });
                headers.push((name, value));
            }
        }

        // A next-page URL already carries its query (and the vendor's state); headers travel
        // outside it, so header parameters (a page size in `Prefer`) are placed on every page.
        let on_next_url = matches!(page, PageState::Url { .. });
        for (param, value) in pagination_params(&method.raw.pagination, &page_view) {
            if !on_next_url || param.location == ParamLocation::Header {
                place_param(param, value, &mut query, &mut headers, &mut body);
            }
        }

        Ok(PlannedRequest {
            uses: uses.to_owned(),
            http_method: method.raw.http_method,
            url,
            query,
            headers,
            body,
        })
    }

    fn resolve_next_url(&self, scope: &Value, next: &str) -> Result<String, PlanError> {
        if next.starts_with("http://") || next.starts_with("https://") {
            return Ok(next.to_owned());
        }
        let base = self.base_url(scope)?;
        let base = url::Url::parse(&format!("{base}/")).map_err(|error| {
            PlanError::Invalid(format!("base URL `{base}` is invalid: {error}"))
        })?;
        base.join(next).map(String::from).map_err(|error| {
            PlanError::Invalid(format!("next page URL `{next}` is invalid: {error}"))
        })
    }

    /// Adds the connection's credentials to a planned request, as its auth scheme says.
    ///
    /// # Errors
    /// Fails when the scheme does not exist or a credential it needs is missing.
    pub fn authenticate(
        &self,
        scheme: &str,
        credentials: &Value,
        account: &Value,
        request: &mut PlannedRequest,
    ) -> Result<(), PlanError> {
        let auth = self
            .inner
            .auth
            .get(scheme)
            .ok_or_else(|| PlanError::UnknownScheme(scheme.to_owned()))?;
        let scope = self.template_scope(account, None, Some(credentials));
        let lookups = &self.inner.file.lookups;
        let render = |template: &crate::template::Template, what: &str| {
            template
                .render(&scope, lookups, Escape::None)
                .map_err(template_error(format!("auth scheme `{scheme}` {what}")))
        };
        match auth {
            CompiledAuth::Bearer { token } => {
                let token = render(token, "token")?;
                request
                    .headers
                    .push(("Authorization".to_owned(), format!("Bearer {token}")));
            }
            CompiledAuth::Oauth2 {
                token,
                token_prefix,
                tokens,
                ..
            } => {
                // A method naming a further token of the scheme carries that token instead.
                let (token, token_prefix) = match self.method_token(&request.uses) {
                    None => (render(token, "token")?, token_prefix.as_str()),
                    Some(name) => {
                        let (_, named) = tokens
                            .iter()
                            .find(|(declared, _)| declared == name)
                            .ok_or_else(|| {
                                PlanError::Invalid(format!(
                                    "`{}` authenticates with the token `{name}`, which auth scheme `{scheme}` does not declare",
                                    request.uses
                                ))
                            })?;
                        let value = credentials
                            .pointer(&format!("/tokens/{name}/access_token"))
                            .and_then(Value::as_str)
                            .filter(|value| !value.is_empty())
                            .ok_or_else(|| {
                                PlanError::Invalid(format!(
                                    "the connection holds no `{name}` token yet"
                                ))
                            })?;
                        (value.to_owned(), named.token_prefix.as_str())
                    }
                };
                request.headers.push((
                    "Authorization".to_owned(),
                    format!("{token_prefix} {token}"),
                ));
            }
            CompiledAuth::ApiKey {
                location,
                name,
                value,
            } => {
                let value = render(value, "value")?;
                match location {
                    ParamLocation::Query => request.query.push((name.clone(), value)),
                    ParamLocation::Header | ParamLocation::Body => {
                        request.headers.push((name.clone(), value));
                    }
                }
            }
            CompiledAuth::Headers { headers } => {
                for (name, template) in headers {
                    let value = render(template, &format!("header `{name}`"))?;
                    request
                        .headers
                        .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
                    request.headers.push((name.clone(), value));
                }
            }
            CompiledAuth::Basic { username, password } => {
                use base64::Engine as _;
                let pair = format!(
                    "{}:{}",
                    render(username, "username")?,
                    render(password, "password")?
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                request
                    .headers
                    .push(("Authorization".to_owned(), format!("Basic {encoded}")));
            }
        }
        Ok(())
    }

    /// Plans a raw proxy call: `path` (with its query string) joined to the base URL.
    ///
    /// # Errors
    /// Fails when the base URL cannot be rendered or the path is not a relative path.
    pub fn plan_proxy(
        &self,
        http_method: HttpMethod,
        path_and_query: &str,
        account: &Value,
        headers: Vec<(String, String)>,
        body: RequestBody,
    ) -> Result<PlannedRequest, PlanError> {
        if !path_and_query.starts_with('/')
            || path_and_query.starts_with("//")
            || path_and_query.contains('\\')
        {
            return Err(PlanError::Invalid(
                "proxy path must start with a single `/`".to_owned(),
            ));
        }
        let scope = self.template_scope(account, None, None);
        let (path, query_string) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        // A dot segment, written plainly or percent-encoded, would climb out of the base URL's
        // path (every URL parser resolves `%2e%2e` as `..`).
        if path.split('/').any(|segment| {
            matches!(
                segment.to_ascii_lowercase().replace("%2e", ".").as_str(),
                "." | ".."
            )
        }) {
            return Err(PlanError::Invalid(
                "proxy path must not contain `.` or `..` segments".to_owned(),
            ));
        }
        let mut all_headers = Vec::new();
        for (name, template) in &self.inner.headers {
            let value = template
                .render(&scope, &self.inner.file.lookups, Escape::None)
                .map_err(template_error(format!("header `{name}`")))?;
            all_headers.push((name.clone(), value));
        }
        for (name, value) in headers {
            all_headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(&name));
            all_headers.push((name, value));
        }
        let query =
            serde_urlencoded::from_str::<Vec<(String, String)>>(query_string).map_err(|error| {
                PlanError::Invalid(format!("proxy query string is invalid: {error}"))
            })?;
        Ok(PlannedRequest {
            uses: PROXY_USES.to_owned(),
            http_method,
            url: format!("{}{}", self.base_url(&scope)?, path),
            query,
            headers: all_headers,
            body,
        })
    }

    /// Classifies a vendor answer: `None` when it is a success. The verdict is kept in the
    /// answer, so classifying it again with this connector costs nothing.
    pub fn classify(&self, response: &VendorResponse) -> Option<ProviderError> {
        let identity = Arc::as_ptr(&self.inner) as usize;
        if let Some((by, verdict)) = response.classified.get()
            && *by == identity
        {
            return verdict.clone();
        }
        let verdict = self.classify_afresh(response);
        // A first verdict is kept; another connector's (never in practice) is just recomputed.
        let _ = response.classified.set((identity, verdict.clone()));
        verdict
    }

    fn classify_afresh(&self, response: &VendorResponse) -> Option<ProviderError> {
        let input = response.as_input();
        let vars = Vars::new();
        let is_error = match &self.inner.detect_when {
            Some(detect) => truthy(detect.evaluate(Some(&input), &vars).ok().flatten().as_ref()),
            None => response.status >= 400,
        };
        if !is_error {
            return None;
        }
        let text = |expr: &Option<Expr>| {
            expr.as_ref()
                .and_then(|expr| expr.evaluate(Some(&input), &vars).ok().flatten())
                .and_then(|value| param_text(&value))
        };
        let message = text(&self.inner.message_expr);
        let vendor_code = text(&self.inner.vendor_code_expr);
        let field = self.refused_field(&input, &vars);
        let matched = self.inner.error_rules.iter().find(|rule| {
            truthy(
                rule.when
                    .evaluate(Some(&input), &vars)
                    .ok()
                    .flatten()
                    .as_ref(),
            )
        });
        let (code, action, rule) = match matched {
            Some(rule) => (rule.rule.code, rule.rule.action, Some(rule.rule.id.clone())),
            None => {
                let (code, action) = default_classification(response.status);
                (code, action, None)
            }
        };
        Some(ProviderError {
            code,
            action,
            rule,
            status: response.status,
            vendor_code,
            message,
            field,
        })
    }

    /// The field the vendor refused, by `errors.field_expr` over the answer's `{status,
    /// headers, body}` with `vars` bound (`$request` for a write's answer).
    fn refused_field(&self, input: &Value, vars: &Vars) -> Option<String> {
        self.inner
            .field_expr
            .as_ref()
            .and_then(|expr| expr.evaluate(Some(input), vars).ok().flatten())
            .and_then(|value| param_text(&value))
    }

    /// The vendor's daily allowance as this answer reports it: `(used, limit)`.
    pub fn daily_quota(&self, response: &VendorResponse) -> Option<(u64, u64)> {
        let expr = self.inner.daily_quota.as_ref()?;
        let value = expr
            .evaluate(Some(&response.as_input()), &Vars::new())
            .ok()??;
        let number = |key: &str| {
            value
                .get(key)
                .and_then(|v| v.as_f64())
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(|n| n as u64)
        };
        let limit = number("limit").filter(|limit| *limit > 0)?;
        Some((number("used")?, limit))
    }

    fn check(&self, response: &VendorResponse) -> Result<(), ReadError> {
        match self.classify(response) {
            Some(error) => Err(ReadError::Provider(error)),
            None => Ok(()),
        }
    }

    /// Reads one page of a unified list: maps each record, and works out the next page.
    ///
    /// # Errors
    /// Fails on a vendor error or when the page itself cannot be read; a record that fails to
    /// map is a [`RecordError`] in the page, not an error.
    pub fn read_list(
        &self,
        object: &str,
        ctx: &RequestContext,
        cursor: &ListCursor,
        response: &VendorResponse,
    ) -> Result<ListPage, ReadError> {
        self.read_list_parts(object, ctx, cursor, std::slice::from_ref(response))
    }

    /// Reads the answers to [`Connector::plan_list_requests`] (in its order) as one page: the
    /// chunks' records merged by the route's merge key, the next page worked out from the
    /// first answer.
    ///
    /// # Errors
    /// As [`Connector::read_list`]; the first vendor error among the answers wins.
    pub fn read_list_parts(
        &self,
        object: &str,
        ctx: &RequestContext,
        cursor: &ListCursor,
        responses: &[VendorResponse],
    ) -> Result<ListPage, ReadError> {
        self.read_list_enriched(object, ctx, cursor, responses, &[])
    }

    /// [`Connector::read_list_parts`] with the answers to the page's `enrich` requests (tagged
    /// as [`Connector::plan_list_enrichment`] planned them) merged into its raw records before
    /// mapping.
    ///
    /// # Errors
    /// As [`Connector::read_list_parts`], and when an enrichment answer is an error or its
    /// keys cannot be evaluated.
    pub fn read_list_enriched(
        &self,
        object: &str,
        ctx: &RequestContext,
        cursor: &ListCursor,
        responses: &[VendorResponse],
        enrichments: &[(usize, VendorResponse)],
    ) -> Result<ListPage, ReadError> {
        let (response, later) = responses
            .split_first()
            .ok_or_else(|| ReadError::Invalid("no vendor answer to read".to_owned()))?;
        for each in responses {
            self.check(each)?;
        }
        let (route, n_routes) = self
            .list_route(object, ctx, cursor)
            .map_err(|error| ReadError::Invalid(error.to_string()))?;
        let page = &cursor.p;
        let compiled = self
            .operation(object, Operation::List)
            .map_err(|error| ReadError::Invalid(error.to_string()))?;
        let method = &route.method;
        let mut raw_records = extract_records(method, &response.body)?;
        if let Some(chunk) = &route.chunk
            && !later.is_empty()
        {
            let later_pages = later
                .iter()
                .map(|each| extract_records(method, &each.body))
                .collect::<Result<Vec<_>, _>>()?;
            raw_records = crate::chunk::merge_pages(chunk, raw_records, later_pages)?;
        }
        if !enrichments.is_empty() {
            crate::chunk::enrich(
                &route.enrich,
                &mut raw_records,
                enrichments,
                |entry, body| extract_records(&entry.method, body),
                |response| self.check(response),
            )?;
        }
        // The next page is worked out before the records are mapped: when the request's
        // evaluation budget runs out among the records, they become item errors and the page
        // still says where the next one starts.
        let page_size = method
            .raw
            .pagination
            .page_size()
            .map_or(ctx.page_size, |bounds| ctx.page_size.clamp(1, bounds.max));
        let resolved = self
            .resolve_page(method, ctx, page)
            .map_err(|error| ReadError::Invalid(error.to_string()))?;
        let page = &resolved;
        let mut vars = self.record_vars(ctx);
        if matches!(page, PageState::Window { .. }) {
            vars.insert("page", page_view(&method.raw.pagination, page, page_size));
        }
        let mut errors = Vec::new();
        // A single answer paged here: the page's records are picked (filtered, sorted, sliced)
        // before mapping, and the next page follows the last key picked.
        let (picked, next_page_state) = match &method.pagination {
            CompiledPagination::Local { sort_key } => local_page(
                route,
                sort_key,
                &vars,
                raw_records,
                page,
                page_size,
                &mut errors,
            ),
            _ => {
                let next = next_page(method, page, page_size, &raw_records, response)?;
                (raw_records.into_iter().enumerate().collect(), next)
            }
        };
        let filtered = matches!(method.pagination, CompiledPagination::Local { .. });
        let next = match next_page_state {
            Some(p) => Some(ListCursor { r: cursor.r, p }),
            None if cursor.r + 1 < n_routes => Some(ListCursor {
                r: cursor.r + 1,
                p: PageState::Start,
            }),
            None => None,
        };
        let mapping = compiled
            .record_mapping
            .as_ref()
            .ok_or_else(|| ReadError::Invalid("list has no record mapping".to_owned()))?;
        let mut records = Vec::with_capacity(picked.len());
        for (index, raw) in picked {
            if !filtered && let Some(filter) = &route.record_filter {
                match filter.evaluate(Some(&raw), &vars) {
                    Ok(kept) if truthy(kept.as_ref()) => {}
                    Ok(_) => continue,
                    Err(error) => {
                        errors.push(RecordError {
                            index,
                            remote_id: None,
                            code: error.code.clone(),
                            message: format!("route `{}` record_filter: {error}", route.id),
                        });
                        continue;
                    }
                }
            }
            match mapping.evaluate(Some(&raw), &vars) {
                Ok(Some(mapped @ Value::Object(_))) => records.push((mapped, raw)),
                Ok(other) => errors.push(RecordError {
                    index,
                    remote_id: None,
                    code: RecordError::NOT_AN_OBJECT.to_owned(),
                    message: format!(
                        "record mapping gave {} instead of an object",
                        other.map_or("nothing".to_owned(), |value| value.to_string())
                    ),
                }),
                Err(error) => errors.push(RecordError {
                    index,
                    remote_id: None,
                    code: error.code.clone(),
                    message: error.to_string(),
                }),
            }
        }
        Ok(ListPage {
            records,
            errors,
            next,
        })
    }

    /// Reads the answer of a get (or of a write that returns the record): the mapped record
    /// and the raw one.
    ///
    /// # Errors
    /// Fails on a vendor error, or when the record cannot be found in the answer or mapped.
    pub fn read_record(
        &self,
        object: &str,
        operation: Operation,
        ctx: &RequestContext,
        response: &VendorResponse,
    ) -> Result<(Value, Value), ReadError> {
        self.read_record_parts(object, operation, ctx, std::slice::from_ref(response))
    }

    /// Reads the answers to [`Connector::plan_requests`] (in its order) as one record: the
    /// records of the chunks' answers merged into the first one's.
    ///
    /// # Errors
    /// As [`Connector::read_record`]; the first vendor error among the answers wins.
    pub fn read_record_parts(
        &self,
        object: &str,
        operation: Operation,
        ctx: &RequestContext,
        responses: &[VendorResponse],
    ) -> Result<(Value, Value), ReadError> {
        self.read_record_enriched(object, operation, ctx, responses, &[])
    }

    /// [`Connector::read_record_parts`] with the answers to the get's `enrich` requests
    /// (tagged as [`Connector::plan_record_enrichment`] planned them) merged into the raw
    /// record before mapping.
    ///
    /// # Errors
    /// As [`Connector::read_record_parts`], and when an enrichment answer is an error or its
    /// keys cannot be evaluated.
    pub fn read_record_enriched(
        &self,
        object: &str,
        operation: Operation,
        ctx: &RequestContext,
        responses: &[VendorResponse],
        enrichments: &[(usize, VendorResponse)],
    ) -> Result<(Value, Value), ReadError> {
        if responses.is_empty() {
            return Err(ReadError::Invalid("no vendor answer to read".to_owned()));
        }
        for each in responses {
            self.check(each)?;
        }
        let route = self
            .choose_route(object, operation, ctx)
            .map_err(|error| ReadError::Invalid(error.to_string()))?;
        let mut raw = Value::Null;
        for response in responses {
            let part = match &route.method.record {
                Some(extract) => extract
                    .evaluate(Some(&response.body), &Vars::new())
                    .map_err(read_mapping_error(format!("`{}` record", route.uses)))?
                    .ok_or_else(|| {
                        if operation == Operation::Get {
                            ReadError::NotFound(format!("`{object}` has no record with this id"))
                        } else {
                            ReadError::Invalid("the answer holds no record".to_owned())
                        }
                    })?,
                None => response.body.clone(),
            };
            crate::chunk::merge_value(&mut raw, &part);
        }
        if !enrichments.is_empty() {
            crate::chunk::enrich(
                &route.enrich,
                std::slice::from_mut(&mut raw),
                enrichments,
                |entry, body| extract_records(&entry.method, body),
                |response| self.check(response),
            )?;
        }
        let get = self
            .operation(object, Operation::Get)
            .map_err(|error| ReadError::Invalid(error.to_string()))?;
        let mapping = get
            .record_mapping
            .as_ref()
            .ok_or_else(|| ReadError::Invalid("get has no record mapping".to_owned()))?;
        let mapped = mapping
            .evaluate(Some(&raw), &self.record_vars(ctx))
            .map_err(read_mapping_error(format!("`{object}` record_mapping")))?
            .ok_or_else(|| ReadError::Invalid("record mapping gave nothing".to_owned()))?;
        Ok((mapped, raw))
    }

    /// Whether a write's answer is the record itself (else read it back with a get).
    pub fn write_returns_record(&self, object: &str, operation: Operation) -> bool {
        self.operation(object, operation)
            .is_ok_and(|op| op.returns == crate::file::WriteReturns::Record)
    }

    /// Checks a write's answer for a vendor error by the connector's rules: `Ok` means the
    /// vendor accepted the write.
    /// The refused field (`errors.field_expr`) is worked out again with the write's request in
    /// scope as `$request` (its unified `body`, `id`, `query`, `account`), so that where one
    /// vendor field stands for several unified ones, the expression can name the one sent.
    ///
    /// # Errors
    /// The vendor error the answer carries.
    pub fn check_answer(
        &self,
        response: &VendorResponse,
        ctx: &RequestContext,
    ) -> Result<(), ReadError> {
        let Some(mut error) = self.classify(response) else {
            return Ok(());
        };
        if self.inner.field_expr.is_some() {
            let vars = Vars::new().with("request", self.mapping_input(ctx, Value::Null));
            error.field = self.refused_field(&response.as_input(), &vars);
        }
        Err(ReadError::Provider(error))
    }

    /// Reads a write's answer that carries only an id (or nothing, for updates).
    ///
    /// # Errors
    /// Fails on a vendor error, or when no id can be found.
    pub fn read_written_id(
        &self,
        object: &str,
        operation: Operation,
        ctx: &RequestContext,
        response: &VendorResponse,
    ) -> Result<String, ReadError> {
        self.check(response)?;
        let compiled = self
            .operation(object, operation)
            .map_err(|error| ReadError::Invalid(error.to_string()))?;
        let from_body = match &compiled.id_expr {
            Some(expr) => token_text(
                expr.evaluate(
                    Some(&response.body),
                    &Vars::new()
                        .with("headers", response.as_input()["headers"].take())
                        .with("request", self.mapping_input(ctx, Value::Null)),
                )
                .map_err(read_mapping_error(format!("`{object}` id_expr")))?,
            ),
            None => None,
        };
        from_body
            .or_else(|| ctx.id.clone())
            .ok_or_else(|| ReadError::Invalid("the vendor's answer holds no record id".to_owned()))
    }

    /// Reads a delete's answer.
    ///
    /// # Errors
    /// Fails on a vendor error.
    pub fn read_delete(&self, response: &VendorResponse) -> Result<(), ReadError> {
        self.check(response)
    }

    /// Plans the discovery call of `object`, if the connector declares one.
    ///
    /// # Errors
    /// Fails when a template fails.
    pub fn plan_discovery(
        &self,
        object: &str,
        ctx: &RequestContext,
    ) -> Result<Option<PlannedRequest>, PlanError> {
        let Some(discovery) = self.inner.discovery.get(object) else {
            return Ok(None);
        };
        self.plan_method(
            &discovery.method,
            &discovery.uses,
            None,
            ctx,
            &PageState::Start,
        )
        .map(Some)
    }

    /// Plans the discovery's second request of `object` (`enrich`), if it declares one: its
    /// answer goes to [`Connector::read_discovery`] with the first one's.
    ///
    /// # Errors
    /// Fails when a template fails.
    pub fn plan_discovery_enrichment(
        &self,
        object: &str,
        ctx: &RequestContext,
    ) -> Result<Option<PlannedRequest>, PlanError> {
        let Some(enrich) = self
            .inner
            .discovery
            .get(object)
            .and_then(|discovery| discovery.enrich.as_ref())
        else {
            return Ok(None);
        };
        self.plan_method(&enrich.method, &enrich.uses, None, ctx, &PageState::Start)
            .map(Some)
    }

    /// How long discovered fields of `object` stay fresh, in seconds.
    pub fn discovery_ttl_secs(&self, object: &str) -> Option<u64> {
        self.inner.discovery.get(object).map(|d| d.ttl_secs)
    }

    /// Reads a discovery answer into normalised fields, completed by the answer to its second
    /// request (`enrich`) when it declares one.
    ///
    /// # Errors
    /// Fails on a vendor error or when a field definition cannot be mapped.
    pub fn read_discovery(
        &self,
        object: &str,
        response: &VendorResponse,
        enrichment: Option<&VendorResponse>,
    ) -> Result<Vec<DiscoveredField>, ReadError> {
        self.check(response)?;
        let discovery = self
            .inner
            .discovery
            .get(object)
            .ok_or_else(|| ReadError::Invalid(format!("`{object}` declares no discovery")))?;
        let definitions = match &discovery.records {
            Some(records) => as_array(
                records
                    .evaluate(Some(&response.body), &Vars::new())
                    .map_err(read_mapping_error(format!("discovery.{object}.records")))?,
            ),
            None => as_array(Some(response.body.clone())),
        };
        definitions
            .iter()
            .filter_map(|definition| {
                match discovery
                    .field_mapping
                    .evaluate(Some(definition), &Vars::new())
                {
                    Ok(Some(mapped)) => Some(
                        serde_json::from_value::<DiscoveredField>(mapped).map_err(|error| {
                            ReadError::Invalid(format!("discovery.{object}.field_mapping: {error}"))
                        }),
                    ),
                    Ok(None) => None,
                    Err(error) => Some(Err(ReadError::Mapping {
                        what: format!("discovery.{object}.field_mapping"),
                        source: error,
                    })),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .and_then(|mut fields| {
                if let (Some(enrich), Some(answer)) = (&discovery.enrich, enrichment) {
                    self.check(answer)?;
                    enrich_fields(object, enrich, &answer.body, &mut fields)?;
                }
                normalise_fields(&mut fields);
                Ok(fields)
            })
    }
}

/// Completes discovered fields with the definitions of a discovery's second answer: each sets
/// the properties its `field_mapping` gives on the field whose vendor key its `key` names.
fn enrich_fields(
    object: &str,
    enrich: &crate::CompiledEnrichment,
    body: &Value,
    fields: &mut [DiscoveredField],
) -> Result<(), ReadError> {
    let what = |part: &str| format!("discovery.{object}.enrich.{part}");
    let definitions = match &enrich.records {
        Some(records) => as_array(
            records
                .evaluate(Some(body), &Vars::new())
                .map_err(read_mapping_error(what("records")))?,
        ),
        None => as_array(Some(body.clone())),
    };
    for definition in &definitions {
        let key = enrich
            .key
            .evaluate(Some(definition), &Vars::new())
            .map_err(read_mapping_error(what("key")))?;
        let Some(Value::String(key)) = key else {
            continue;
        };
        let Some(field) = fields.iter_mut().find(|field| field.vendor_key() == key) else {
            continue;
        };
        let Some(Value::Object(set)) = enrich
            .field_mapping
            .evaluate(Some(definition), &Vars::new())
            .map_err(read_mapping_error(what("field_mapping")))?
        else {
            continue;
        };
        let mut merged = serde_json::to_value(&*field)
            .map_err(|error| ReadError::Invalid(format!("{}: {error}", what("field_mapping"))))?;
        if let Value::Object(map) = &mut merged {
            map.extend(set);
        }
        *field = serde_json::from_value(merged)
            .map_err(|error| ReadError::Invalid(format!("{}: {error}", what("field_mapping"))))?;
    }
    Ok(())
}

fn default_classification(status: u16) -> (ErrorCode, ErrorAction) {
    match status {
        400 => (ErrorCode::BadRequest, ErrorAction::Fail),
        401 => (ErrorCode::Unauthorized, ErrorAction::Fail),
        403 => (ErrorCode::Forbidden, ErrorAction::Fail),
        404 => (ErrorCode::NotFound, ErrorAction::Fail),
        409 => (ErrorCode::Conflict, ErrorAction::Fail),
        410 => (ErrorCode::Gone, ErrorAction::Fail),
        422 => (ErrorCode::ValidationFailed, ErrorAction::Fail),
        429 => (ErrorCode::RateLimited, ErrorAction::RateLimited),
        504 => (ErrorCode::UpstreamTimeout, ErrorAction::Retry),
        500..=599 => (ErrorCode::UpstreamUnavailable, ErrorAction::Retry),
        _ => (ErrorCode::Internal, ErrorAction::Fail),
    }
}

fn as_array(value: Option<Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
    }
}

fn extract_records(method: &CompiledMethod, body: &Value) -> Result<Vec<Value>, ReadError> {
    match &method.records {
        Some(records) => Ok(as_array(
            records
                .evaluate(Some(body), &Vars::new())
                .map_err(read_mapping_error("records"))?,
        )),
        None => Ok(as_array(Some(body.clone()))),
    }
}

/// One page of a single answer paged by Crosswalk (`local` pagination): the records the
/// route's filter keeps, sorted by key, those after the page's last key (`page`), at most
/// `page_size` of them, with their indexes in the answer; and the next page when more follow.
/// A record the filter or the key cannot be evaluated on is an item error in `errors`.
fn local_page(
    route: &CompiledRoute,
    sort_key: &Expr,
    vars: &Vars,
    raw_records: Vec<Value>,
    page: &PageState,
    page_size: u64,
    errors: &mut Vec<RecordError>,
) -> (Vec<(usize, Value)>, Option<PageState>) {
    let after = match page {
        PageState::Local { a } => Some(a),
        _ => None,
    };
    let mut keyed = Vec::with_capacity(raw_records.len());
    for (index, raw) in raw_records.into_iter().enumerate() {
        if let Some(filter) = &route.record_filter {
            match filter.evaluate(Some(&raw), vars) {
                Ok(kept) if truthy(kept.as_ref()) => {}
                Ok(_) => continue,
                Err(error) => {
                    errors.push(RecordError {
                        index,
                        remote_id: None,
                        code: error.code.clone(),
                        message: format!("route `{}` record_filter: {error}", route.id),
                    });
                    continue;
                }
            }
        }
        match sort_key.evaluate(Some(&raw), &Vars::new()) {
            Ok(Some(key)) if !key.is_null() => {
                if after.is_none_or(|after| compare_keys(&key, after).is_gt()) {
                    keyed.push((key, index, raw));
                }
            }
            Ok(_) => errors.push(RecordError {
                index,
                remote_id: None,
                code: RecordError::NO_SORT_KEY.to_owned(),
                message: format!("route `{}`: the record has no sort key", route.id),
            }),
            Err(error) => errors.push(RecordError {
                index,
                remote_id: None,
                code: error.code.clone(),
                message: format!("route `{}` pagination sort_key_expr: {error}", route.id),
            }),
        }
    }
    keyed.sort_by(|(a, ..), (b, ..)| compare_keys(a, b));
    let size = usize::try_from(page_size).unwrap_or(usize::MAX).max(1);
    let more = keyed.len() > size;
    keyed.truncate(size);
    let next = if more {
        keyed
            .last()
            .map(|(key, ..)| PageState::Local { a: key.clone() })
    } else {
        None
    };
    (
        keyed
            .into_iter()
            .map(|(_, index, raw)| (index, raw))
            .collect(),
        next,
    )
}

/// The order of `local` sort keys: numbers and strings of digits by value, other strings as
/// text, numbers before strings.
fn compare_keys(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn digits(value: &Value) -> Option<&str> {
        match value {
            Value::String(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                Some(text.trim_start_matches('0'))
            }
            _ => None,
        }
    }
    if let (Value::Number(x), Value::Number(y)) = (a, b) {
        return match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), ..) => x.cmp(&y),
            (.., Some(x), Some(y)) => x.cmp(&y),
            _ => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
        };
    }
    if let (Some(x), Some(y)) = (digits(a), digits(b)) {
        return x.len().cmp(&y.len()).then_with(|| x.cmp(y));
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(_), _) => Ordering::Less,
        (_, Value::Number(_)) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// What mappings see as `page`.
fn page_view(pagination: &Pagination, page: &PageState, size: u64) -> Value {
    let mut view =
        json!({"size": size, "token": null, "offset": 0, "number": null, "after_key": null});
    if let Pagination::Page { start_at, .. } = pagination {
        view["number"] = json!(start_at);
    }
    match page {
        PageState::Start | PageState::Url { .. } | PageState::Local { .. } => {}
        PageState::Token { t } => view["token"] = json!(t),
        PageState::Keyset { a, t, .. } => {
            view["after_key"] = a.clone().unwrap_or(Value::Null);
            view["token"] = json!(t);
        }
        PageState::Offset { o } => view["offset"] = json!(o),
        PageState::Page { p } => view["number"] = json!(p),
        PageState::Window { w, s, e, t } => {
            view["window_start"] = json!(w);
            view["window_end"] = json!(window_end(pagination, w, e));
            view["walk_start"] = json!(s);
            view["walk_end"] = json!(e);
            view["token"] = json!(t);
        }
    }
    view
}

/// The calendar months of a `windows` walk's windows.
fn window_months(pagination: &Pagination) -> u32 {
    match pagination {
        Pagination::Windows { months, .. } => months.unwrap_or(1).max(1),
        _ => 1,
    }
}

/// The first day of the window after the one starting `start`: the first day of the month
/// `months` months after `start`'s month.
fn next_window_start(pagination: &Pagination, start: &str) -> Option<chrono::NaiveDate> {
    use chrono::Datelike as _;
    let day = chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d").ok()?;
    day.with_day(1)?
        .checked_add_months(chrono::Months::new(window_months(pagination)))
}

/// The last day (inclusive) of the window starting `start` in a walk ending `walk_end`.
fn window_end(pagination: &Pagination, start: &str, walk_end: &str) -> String {
    let end = next_window_start(pagination, start)
        .and_then(|next| next.pred_opt())
        .map(|day| day.to_string())
        .unwrap_or_else(|| walk_end.to_owned());
    if end.as_str() > walk_end {
        walk_end.to_owned()
    } else {
        end
    }
}

/// Pagination parameters the runtime places itself (those with a declared `param`).
fn pagination_params<'a>(pagination: &'a Pagination, view: &Value) -> Vec<(&'a Param, Value)> {
    let mut params = Vec::new();
    if let Some(size) = pagination.page_size()
        && let Some(param) = &size.param
    {
        params.push((param, view["size"].clone()));
    }
    let token_param = match pagination {
        Pagination::Cursor { param, .. } => param.as_ref(),
        Pagination::Keyset { inner, .. } | Pagination::Windows { inner, .. } => {
            inner.as_ref().and_then(|inner| inner.param.as_ref())
        }
        _ => None,
    };
    if let Some(param) = token_param
        && !view["token"].is_null()
    {
        params.push((param, view["token"].clone()));
    }
    match pagination {
        Pagination::Offset {
            param: Some(param), ..
        } => params.push((param, view["offset"].clone())),
        Pagination::Page {
            param: Some(param), ..
        } => params.push((param, view["number"].clone())),
        _ => {}
    }
    params
}

fn place_param(
    param: &Param,
    value: Value,
    query: &mut Vec<(String, String)>,
    headers: &mut Vec<(String, String)>,
    body: &mut RequestBody,
) {
    let Some(bare) = param_text(&value) else {
        return;
    };
    let (text, value) = match &param.format {
        Some(format) => {
            let text = format.replace("{value}", &bare);
            (text.clone(), Value::String(text))
        }
        None => (bare, value),
    };
    match param.location {
        ParamLocation::Query => {
            query.retain(|(name, _)| name != &param.name);
            query.push((param.name.clone(), text));
        }
        ParamLocation::Header => {
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case(&param.name));
            headers.push((param.name.clone(), text));
        }
        ParamLocation::Body => match body {
            RequestBody::Json(Value::Object(map)) => {
                map.insert(param.name.clone(), value);
            }
            RequestBody::None => {
                let mut map = Map::new();
                map.insert(param.name.clone(), value);
                *body = RequestBody::Json(Value::Object(map));
            }
            RequestBody::Form(pairs) => pairs.push((param.name.clone(), text)),
            RequestBody::Json(_) | RequestBody::Raw(_) => {}
        },
    }
}

fn merge_query(query: &mut Vec<(String, String)>, mapped: Option<Value>) -> Result<(), PlanError> {
    match mapped {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(map)) => {
            for (name, value) in map {
                query.retain(|(existing, _)| existing != &name);
                match value {
                    Value::Array(items) => {
                        query.extend(
                            items
                                .iter()
                                .filter_map(param_text)
                                .map(|text| (name.clone(), text)),
                        );
                    }
                    other => {
                        if let Some(text) = param_text(&other) {
                            query.push((name, text));
                        }
                    }
                }
            }
            Ok(())
        }
        Some(other) => Err(PlanError::Invalid(format!(
            "query_mapping must give an object, not `{other}`"
        ))),
    }
}

fn next_page(
    method: &CompiledMethod,
    page: &PageState,
    page_size: u64,
    records: &[Value],
    response: &VendorResponse,
) -> Result<Option<PageState>, ReadError> {
    let body = &response.body;
    let vars = Vars::new();
    let eval = |expr: &Expr, input: &Value, what: &str| {
        expr.evaluate(Some(input), &vars)
            .map_err(read_mapping_error(format!("pagination {what}")))
    };
    let count = records.len() as u64;
    let full_page = count >= page_size;
    Ok(match &method.pagination {
        // A local page's successor is worked out from the sorted records (`local_page`).
        CompiledPagination::None | CompiledPagination::Local { .. } => None,
        CompiledPagination::Cursor { token } => {
            if records.is_empty() {
                None
            } else {
                token_text(eval(token, body, "token_expr")?).map(|t| PageState::Token { t })
            }
        }
        CompiledPagination::Keyset {
            sort_key,
            inner_token,
            has_more,
        } => {
            let Some(last) = records.last() else {
                return Ok(None);
            };
            let last_key = eval(sort_key, last, "sort_key_expr")?
                .ok_or_else(|| ReadError::Invalid("the last record has no sort key".to_owned()))?;
            let (current_key, already) = match page {
                PageState::Keyset { a, n, .. } => (a.clone(), *n),
                _ => (None, 0),
            };
            let result_cap = match &method.raw.pagination {
                Pagination::Keyset { result_cap, .. } => *result_cap,
                _ => None,
            };
            let more = full_page
                || match has_more {
                    Some(expr) => truthy(eval(expr, body, "has_more_expr")?.as_ref()),
                    None => false,
                };
            match inner_token {
                None => more.then(|| PageState::Keyset {
                    a: Some(last_key),
                    t: None,
                    n: 0,
                }),
                Some(inner) => match token_text(eval(inner, body, "inner.token_expr")?) {
                    None => None,
                    Some(token) => {
                        let read = already + count;
                        if result_cap.is_some_and(|cap| read + page_size > cap) {
                            Some(PageState::Keyset {
                                a: Some(last_key),
                                t: None,
                                n: 0,
                            })
                        } else {
                            Some(PageState::Keyset {
                                a: current_key,
                                t: Some(token),
                                n: read,
                            })
                        }
                    }
                },
            }
        }
        CompiledPagination::Offset {
            has_more,
            next_offset,
        } => {
            let more = match has_more {
                Some(expr) => truthy(eval(expr, body, "has_more_expr")?.as_ref()),
                None => full_page,
            };
            if !more || records.is_empty() {
                None
            } else {
                let current = match page {
                    PageState::Offset { o } => *o,
                    _ => 0,
                };
                let next = match next_offset {
                    Some(expr) => eval(expr, body, "next_offset_expr")?
                        .and_then(|value| value.as_u64())
                        .unwrap_or(current + count),
                    None => current + count,
                };
                Some(PageState::Offset { o: next })
            }
        }
        CompiledPagination::Page { has_more } => {
            let more = match has_more {
                Some(expr) => truthy(eval(expr, body, "has_more_expr")?.as_ref()),
                None => full_page,
            };
            let current = match (page, &method.raw.pagination) {
                (PageState::Page { p }, _) => *p,
                (_, Pagination::Page { start_at, .. }) => *start_at,
                _ => 1,
            };
            (more && !records.is_empty()).then_some(PageState::Page { p: current + 1 })
        }
        CompiledPagination::LinkHeader => {
            let rel = match &method.raw.pagination {
                Pagination::LinkHeader { rel, .. } => rel.as_str(),
                _ => "next",
            };
            response
                .header("link")
                .and_then(|link| link_with_rel(link, rel))
                .map(|u| PageState::Url { u })
        }
        CompiledPagination::NextUrl { url } => {
            token_text(eval(url, body, "url_expr")?).map(|u| PageState::Url { u })
        }
        CompiledPagination::Windows { inner_token, .. } => {
            let PageState::Window { w, s, e, .. } = page else {
                return Err(ReadError::Invalid(
                    "a date window walk's page names no window".to_owned(),
                ));
            };
            // The vendor's cursor pages inside the window; then the next window, until the
            // walk's end.
            let inner = match inner_token {
                Some(inner) if !records.is_empty() => {
                    token_text(eval(inner, body, "inner.token_expr")?)
                }
                _ => None,
            };
            match inner {
                Some(token) => Some(PageState::Window {
                    w: w.clone(),
                    s: s.clone(),
                    e: e.clone(),
                    t: Some(token),
                }),
                None => next_window_start(&method.raw.pagination, w)
                    .map(|next| next.to_string())
                    .filter(|next| next.as_str() <= e.as_str())
                    .map(|next| PageState::Window {
                        w: next,
                        s: s.clone(),
                        e: e.clone(),
                        t: None,
                    }),
            }
        }
    })
}

/// Finds the URL of relation `rel` in an RFC 8288 `Link` header.
fn link_with_rel(header: &str, rel: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let mut parts = link.split(';');
        let target = parts.next()?.trim();
        let target = target.strip_prefix('<')?.strip_suffix('>')?;
        let has_rel = parts.any(|param| {
            let param = param.trim();
            param
                .strip_prefix("rel=")
                .map(|value| value.trim_matches('"'))
                .is_some_and(|value| {
                    value
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case(rel))
                })
        });
        has_rel.then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::{
        DiscoveredField, link_with_rel, normalise_fields, reads_request_id, request_inputs,
    };

    #[test]
    fn a_routes_when_reads_the_record_id_by_its_own_name() {
        assert!(reads_request_id(
            "$contains(id, /^acti_/) and body.lead_ids"
        ));
        assert!(reads_request_id("$substringBefore(id, '-') = 'call'"));
        assert!(!reads_request_id("body.id = 'x' or $x.id or body.lead_ids"));
        assert!(!reads_request_id("body.type = 'CALL' and query.ids"));
    }

    #[test]
    fn a_routes_when_names_the_request_inputs_it_reads() {
        assert_eq!(request_inputs("body.type = 'CALL'"), ["body.type"]);
        assert_eq!(
            request_inputs("(query.updated_after or query.ids) and body.kind"),
            ["query.updated_after", "query.ids", "body.kind"]
        );
        assert_eq!(
            request_inputs("$substringBefore(id, '-') = 'call'"),
            Vec::<String>::new()
        );
        assert_eq!(
            request_inputs("$x.body.type or somebody.type"),
            Vec::<String>::new()
        );
    }

    fn field(key: &str, vendor_key: Option<&str>) -> DiscoveredField {
        DiscoveredField {
            key: key.to_owned(),
            vendor_key: vendor_key.map(str::to_owned),
            label: None,
            kind: None,
            vendor_type: None,
            custom: true,
            required: false,
            read_only: false,
            options: Vec::new(),
        }
    }

    #[test]
    fn unified_field_keys_are_unique_and_keep_the_vendor_key() {
        let mut fields = vec![
            field("name", None),
            field("region", Some("aaaa")),
            field("region", Some("bbbb")),
            field("name", Some("name")),
        ];
        normalise_fields(&mut fields);
        let keys: Vec<(&str, &str)> = fields
            .iter()
            .map(|field| (field.key.as_str(), field.vendor_key()))
            .collect();
        assert_eq!(
            keys,
            [
                ("name", "name"),
                ("region", "aaaa"),
                ("bbbb", "bbbb"),
                ("name_3", "name"),
            ]
        );
    }

    #[test]
    fn finds_next_link() {
        let header = r#"<https://x/api?page=3>; rel="next", <https://x/api?page=1>; rel="first""#;
        assert_eq!(
            link_with_rel(header, "next"),
            Some("https://x/api?page=3".to_owned())
        );
        assert_eq!(link_with_rel(header, "prev"), None);
    }
}
