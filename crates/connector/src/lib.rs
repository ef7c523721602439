//! Connector files: loading, validation, compilation, request planning and response reading.
//!
//! A connector is data (`connectors/<provider>/connector.yaml`); this crate turns it into a
//! [`Connector`] whose methods plan vendor HTTP requests ([`PlannedRequest`]) and read vendor
//! answers ([`VendorResponse`]) into unified records, next-page states and classified errors.
//! It does no IO, reads no clock and touches no database, so every connector is testable from
//! recorded responses alone. Executing requests is `provider-http`'s job.

mod chunk;
mod compile;
pub mod file;
mod load;
mod oauth;
mod origin;
mod overrides;
mod runtime;
pub mod template;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use mapping::Expr;

pub use file::{ConnectorFile, ErrorAction, ErrorCode, HttpMethod};
pub use load::{
    LoadError, SUPPORTED_SCHEMA_VERSIONS, connector_files, deep_merge, load_connector_from_file,
    load_connector_from_str, load_connectors_dir, parse_yaml, type_file,
};
/// The mapping crate the connector evaluates with, for callers that set the evaluation's
/// limits and budget around its calls (`mapping::Budget`).
pub use mapping;
pub use oauth::OAuthEndpoints;
pub use overrides::{
    OverrideError, OverrideLayer, apply_override, load_connector_with_layers, provenance,
    provenance_of,
};
pub use runtime::{
    BulkPage, BulkResults, BulkState, DiscoveredField, EnrichmentRequest, ListCursor, ListPage,
    PROXY_USES, PageState, PlanError, PlannedRequest, ProviderError, ReadError, RecordError,
    RequestBody, RequestContext, VendorResponse, fields_binding,
};
use template::Template;
pub use template::TemplateError;

/// A unified operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    List,
    Get,
    Create,
    Update,
    Delete,
}

impl Operation {
    /// The operation's name in connector files.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::List => "list",
            Operation::Get => "get",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

/// The key under which an object's deletion listing (its `deletes` feed or archived listing)
/// is planned and read as a list: `plan_list_requests(&deletes_listing("crm.contacts"), …)`
/// pages through it, each record mapped to `{"id": …}`.
pub fn deletes_listing(object: &str) -> String {
    format!("{object}#deletes")
}

/// A validated, compiled connector. Cheap to clone; shared across tasks.
#[derive(Debug, Clone)]
pub struct Connector {
    inner: Arc<ConnectorInner>,
}

#[derive(Debug)]
struct ConnectorInner {
    source: String,
    /// The YAML text and the layers it was loaded with, for [`Connector::with_layers`].
    text: Option<Arc<str>>,
    layers: Vec<(OverrideLayer, serde_json::Value)>,
    file: ConnectorFile,
    base_url: Template,
    headers: Vec<(String, Template)>,
    allowed_hosts: Vec<origin::OriginPattern>,
    auth: IndexMap<String, CompiledAuth>,
    methods: HashMap<String, Arc<CompiledMethod>>,
    /// Today (`YYYY-MM-DD`, by the evaluation's clock): the default end of a `windows` walk.
    today: Expr,
    detect_when: Option<Expr>,
    message_expr: Option<Expr>,
    vendor_code_expr: Option<Expr>,
    field_expr: Option<Expr>,
    error_rules: Vec<CompiledErrorRule>,
    daily_quota: Option<Expr>,
    discovery: HashMap<String, CompiledDiscovery>,
    unified: HashMap<String, HashMap<Operation, CompiledOperation>>,
    webhooks: Option<webhook::CompiledWebhooks>,
}

impl Connector {
    /// The provider slug (`meta.id`).
    pub fn id(&self) -> &str {
        &self.inner.file.meta.id
    }

    fn keep_source(&mut self, text: &str, layers: Vec<(OverrideLayer, serde_json::Value)>) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.text = Some(Arc::from(text));
            inner.layers = layers;
        }
    }

    /// This connector with more override layers (an environment's, a connection's) applied on
    /// top of the ones it was loaded with, validated and compiled.
    ///
    /// # Errors
    /// Fails when a layer breaks a guard rail or the result does not compile (a broken JSONata
    /// names its path, code and position).
    pub fn with_layers(
        &self,
        extra: &[(OverrideLayer, &serde_json::Value)],
    ) -> Result<Connector, LoadError> {
        let Some(text) = &self.inner.text else {
            return Err(LoadError::new(
                &self.inner.source,
                None,
                None,
                "this connector was not loaded from text and cannot take overrides",
            ));
        };
        let mut layers: Vec<(OverrideLayer, &serde_json::Value)> = self
            .inner
            .layers
            .iter()
            .map(|(layer, patch)| (*layer, patch))
            .collect();
        layers.extend(extra.iter().copied());
        load_connector_with_layers(&self.inner.source, text, &layers)
    }

    /// The file (or label) this connector was loaded from.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The effective connector file (after operator overrides).
    pub fn file(&self) -> &ConnectorFile {
        &self.inner.file
    }

    /// Whether the connector serves `operation` on `object` (`crm.contacts`).
    pub fn supports(&self, object: &str, operation: Operation) -> bool {
        self.inner
            .unified
            .get(object)
            .is_some_and(|ops| ops.contains_key(&operation))
    }

    /// Unified objects this connector serves.
    pub fn objects(&self) -> impl Iterator<Item = &str> {
        self.inner.file.unified.keys().map(String::as_str)
    }

    /// The vendor's webhooks (verification, events, answer), if the connector declares them.
    pub fn webhooks(&self) -> Option<&webhook::CompiledWebhooks> {
        self.inner.webhooks.as_ref()
    }

    /// How a sync learns of `object`'s deletes, as declared.
    pub fn deletes(&self, object: &str) -> Option<&file::Deletes> {
        self.inner
            .file
            .unified
            .get(object)
            .and_then(|ops| ops.deletes.as_ref())
    }

    /// The token-bucket weight of a `resource.method` (1 when undeclared or unknown).
    pub fn method_cost(&self, uses: &str) -> u32 {
        self.inner
            .methods
            .get(uses)
            .and_then(|method| method.raw.cost)
            .unwrap_or(1)
    }

    /// The further token of the auth scheme (`auth.schemes.<scheme>.tokens`) a `resource.method`
    /// authenticates with, when it names one (`token`).
    pub fn method_token(&self, uses: &str) -> Option<&str> {
        self.inner
            .methods
            .get(uses)
            .and_then(|method| method.raw.token.as_deref())
    }

    /// Whether an update of `object` maps the caller's fields merged over the current record.
    pub fn update_merges_current(&self, object: &str) -> bool {
        self.inner
            .file
            .unified
            .get(object)
            .and_then(|ops| ops.update.as_ref())
            .is_some_and(|update| update.merge_current)
    }

    /// The declared write operation `operation` (create or update) of `object`.
    fn write_operation(&self, object: &str, operation: Operation) -> Option<&file::WriteOperation> {
        let ops = self.inner.file.unified.get(object)?;
        match operation {
            Operation::Create => ops.create.as_ref(),
            Operation::Update => ops.update.as_ref(),
            _ => None,
        }
    }

    /// The bounds a create or update of `object` holds number fields to (`ranges`).
    pub fn write_ranges(
        &self,
        object: &str,
        operation: Operation,
    ) -> impl Iterator<Item = (&str, file::WriteRange)> {
        self.write_operation(object, operation)
            .into_iter()
            .flat_map(|write| write.ranges.iter())
            .map(|(name, range)| (name.as_str(), *range))
    }

    /// The unified fields a create or update of `object` carries (`fields`); `None` when the
    /// connector does not say, meaning every field of the write schema.
    pub fn write_fields(&self, object: &str, operation: Operation) -> Option<&[String]> {
        self.write_operation(object, operation)?.fields.as_deref()
    }

    /// The unified fields a create or update of `object` requires (`required`).
    pub fn write_required(&self, object: &str, operation: Operation) -> &[String] {
        self.write_operation(object, operation)
            .map_or(&[], |write| write.required.as_slice())
    }

    /// The most items a write of `object` takes in a list field (`max_items`), in file order.
    pub fn write_max_items(
        &self,
        object: &str,
        operation: Operation,
    ) -> impl Iterator<Item = (&str, usize)> {
        self.write_operation(object, operation)
            .into_iter()
            .flat_map(|write| write.max_items.iter())
            .map(|(name, most)| (name.as_str(), *most))
    }

    /// The most characters a write of `object` takes in a text field (`max_length`), in file
    /// order.
    pub fn write_max_length(
        &self,
        object: &str,
        operation: Operation,
    ) -> impl Iterator<Item = (&str, usize)> {
        self.write_operation(object, operation)
            .into_iter()
            .flat_map(|write| write.max_length.iter())
            .map(|(name, most)| (name.as_str(), *most))
    }

    /// The groups of date-time fields a write of `object` keeps in order, earliest first
    /// (`ordered`).
    pub fn write_ordered(&self, object: &str, operation: Operation) -> &[Vec<String>] {
        self.write_operation(object, operation)
            .map_or(&[], |write| write.ordered.as_slice())
    }

    /// How far a write of `object` lets a date-time field lie after another (`spans`): the
    /// later field and its span, in file order.
    pub fn write_spans(
        &self,
        object: &str,
        operation: Operation,
    ) -> impl Iterator<Item = (&str, &file::WriteSpan)> {
        self.write_operation(object, operation)
            .into_iter()
            .flat_map(|write| write.spans.iter())
            .map(|(name, span)| (name.as_str(), span))
    }

    /// The date-time fields a write of `object` takes in whole steps of seconds
    /// (`step_seconds`), in file order.
    pub fn write_step_seconds(
        &self,
        object: &str,
        operation: Operation,
    ) -> impl Iterator<Item = (&str, u64)> {
        self.write_operation(object, operation)
            .into_iter()
            .flat_map(|write| write.step_seconds.iter())
            .map(|(name, step)| (name.as_str(), *step))
    }

    /// The fields a write of `object` takes only with others (`requires`), in file order.
    pub fn write_requires(
        &self,
        object: &str,
        operation: Operation,
    ) -> impl Iterator<Item = (&str, &[String])> {
        self.write_operation(object, operation)
            .into_iter()
            .flat_map(|write| write.requires.iter())
            .map(|(name, others)| (name.as_str(), others.as_slice()))
    }

    /// The groups of fields a write of `object` gives one value at most, the vendor holding
    /// them in one field (`exclusive`).
    pub fn write_exclusive(&self, object: &str, operation: Operation) -> &[Vec<String>] {
        self.write_operation(object, operation)
            .map_or(&[], |write| write.exclusive.as_slice())
    }

    /// The fields an update of `object` cannot clear: those a create requires, then those the
    /// update declares `not_clearable`, in file order, then the field naming a record's type
    /// (`types.field`: a record keeps its type).
    pub fn update_not_clearable(&self, object: &str) -> impl Iterator<Item = &str> {
        let update = self.write_operation(object, Operation::Update);
        self.write_required(object, Operation::Create)
            .iter()
            .chain(
                update
                    .into_iter()
                    .flat_map(|write| write.not_clearable.iter()),
            )
            .chain(
                update
                    .and_then(|write| write.types.as_ref())
                    .map(|types| &types.field),
            )
            .map(String::as_str)
    }

    /// The list fields a write of `object` takes one item of each kind of, with the field of
    /// an item naming its kind (`one_per`), in file order.
    pub fn write_one_per(
        &self,
        object: &str,
        operation: Operation,
    ) -> impl Iterator<Item = (&str, &str)> {
        self.write_operation(object, operation)
            .into_iter()
            .flat_map(|write| write.one_per.iter())
            .map(|(name, kind)| (name.as_str(), kind.as_str()))
    }

    /// The groups of fields a create of `object` needs one of (`required_any`).
    pub fn write_required_any(&self, object: &str, operation: Operation) -> &[Vec<String>] {
        self.write_operation(object, operation)
            .map_or(&[], |write| write.required_any.as_slice())
    }

    /// The fields a write of `object` narrows to a list of values (`values`), each with its
    /// values, in file order; values read from a discovered field's options come from
    /// `discovered` (the connection's fields of `object`), and a field whose options are not
    /// there is not narrowed.
    pub fn write_values<'a>(
        &'a self,
        object: &str,
        operation: Operation,
        discovered: &'a [runtime::DiscoveredField],
    ) -> Vec<NarrowedField<'a>> {
        let Some(write) = self.write_operation(object, operation) else {
            return Vec::new();
        };
        write
            .values
            .iter()
            .filter_map(|(name, values)| {
                let (values, discovered) = match values {
                    file::WriteValues::Listed(values) => (values.clone(), false),
                    file::WriteValues::Discovered(from) => discovered
                        .iter()
                        .find(|field| field.vendor_key() == from.options_of)
                        .map(|field| {
                            field
                                .options
                                .iter()
                                .map(|option| {
                                    option
                                        .get(from.option.as_deref().unwrap_or("value"))
                                        .unwrap_or(option)
                                        .clone()
                                })
                                .filter(|value| !value.is_null())
                                .collect::<Vec<_>>()
                        })
                        .filter(|values| !values.is_empty())
                        .map(|values| (values, true))?,
                };
                Some(NarrowedField {
                    name: name.as_str(),
                    values,
                    discovered,
                })
            })
            .collect()
    }

    /// What a write of `object` says of the fields only some record types hold (`types`).
    pub fn write_types(&self, object: &str, operation: Operation) -> Option<&file::WriteTypes> {
        self.write_operation(object, operation)?.types.as_ref()
    }

    /// The types an update of `object` tells from the record's id (`types.ids`): those whose
    /// pattern the id matches, in file order; none when the id matches no pattern.
    pub fn update_types_of_id(&self, object: &str, id: &str) -> Vec<&str> {
        self.inner
            .unified
            .get(object)
            .and_then(|ops| ops.get(&Operation::Update))
            .map(|compiled| {
                compiled
                    .type_ids
                    .iter()
                    .filter(|(_, pattern)| pattern.is_match(id))
                    .map(|(kind, _)| kind.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The patterns a write of `object` holds text fields to (`patterns`), compiled.
    pub fn write_patterns(&self, object: &str, operation: Operation) -> &[(String, regex::Regex)] {
        match operation {
            Operation::Create | Operation::Update => self.compiled_patterns(object, operation),
            _ => &[],
        }
    }

    /// The compiled patterns of one operation (see `CompiledOperation::patterns`).
    fn compiled_patterns(&self, object: &str, operation: Operation) -> &[(String, regex::Regex)] {
        self.inner
            .unified
            .get(object)
            .and_then(|ops| ops.get(&operation))
            .map_or(&[], |compiled| compiled.patterns.as_slice())
    }

    /// The `item_pattern`s of `object`'s list filters, compiled: `(filter, pattern)`.
    pub fn filter_item_patterns(&self, object: &str) -> &[(String, regex::Regex)] {
        self.compiled_patterns(object, Operation::List)
    }

    /// Whether the error rule `rule` says the vendor's fields changed (`refresh_discovery`).
    pub fn refreshes_discovery(&self, rule: &str) -> bool {
        self.inner
            .file
            .errors
            .rules
            .iter()
            .any(|declared| declared.id == rule && declared.refresh_discovery)
    }

    /// Whether `url`'s origin (scheme, host and port) is one the connector may reach
    /// (`http.allowed_hosts`).
    pub fn url_allowed(&self, url: &url::Url) -> bool {
        self.inner
            .allowed_hosts
            .iter()
            .any(|pattern| pattern.matches(url))
    }

    /// The auth scheme a connection uses: its own choice, else the default, else the only one.
    pub fn scheme_name<'a>(&'a self, requested: Option<&'a str>) -> Option<&'a str> {
        let schemes = &self.inner.file.auth.schemes;
        match requested {
            Some(name) => schemes.contains_key(name).then_some(name),
            None => self.inner.file.auth.default_scheme.as_deref().or_else(|| {
                (schemes.len() == 1).then(|| schemes.keys().next().map(String::as_str))?
            }),
        }
    }
}

#[derive(Debug)]
enum CompiledAuth {
    Bearer {
        token: Template,
    },
    ApiKey {
        location: file::ParamLocation,
        name: String,
        value: Template,
    },
    Basic {
        username: Template,
        password: Template,
    },
    Headers {
        headers: Vec<(String, Template)>,
    },
    Oauth2 {
        token: Template,
        /// The word before the token in `Authorization` (`Bearer` by default).
        token_prefix: String,
        authorize_url: Option<Template>,
        token_url: Template,
        scopes: Vec<Template>,
        capture: Vec<(String, Expr)>,
        invalid_grant_when: Option<Expr>,
        /// Further tokens by name (`tokens`): their endpoint and scopes, and the word before
        /// them in `Authorization`.
        tokens: Vec<(String, CompiledNamedToken)>,
    },
}

#[derive(Debug)]
struct CompiledNamedToken {
    token_url: Template,
    scopes: Vec<Template>,
    token_prefix: String,
}

#[derive(Debug)]
struct CompiledMethod {
    raw: file::Method,
    path: Template,
    base_url: Option<Template>,
    query: Vec<(String, Template)>,
    headers: Vec<(String, Template)>,
    records: Option<Expr>,
    record: Option<Expr>,
    pagination: CompiledPagination,
}

#[derive(Debug)]
enum CompiledPagination {
    None,
    Cursor {
        token: Expr,
    },
    Keyset {
        sort_key: Expr,
        inner_token: Option<Expr>,
        has_more: Option<Expr>,
    },
    Offset {
        has_more: Option<Expr>,
        next_offset: Option<Expr>,
    },
    Page {
        has_more: Option<Expr>,
    },
    LinkHeader,
    NextUrl {
        url: Expr,
    },
    Local {
        sort_key: Expr,
    },
    Windows {
        start: Expr,
        end: Option<Expr>,
        inner_token: Option<Expr>,
    },
}

#[derive(Debug)]
struct CompiledRoute {
    id: String,
    uses: String,
    method: Arc<CompiledMethod>,
    when: Option<Expr>,
    query_mapping: Option<Expr>,
    header_mapping: Option<Expr>,
    body_mapping: Option<Expr>,
    id_mapping: Option<Expr>,
    record_filter: Option<Expr>,
    chunk: Option<CompiledChunk>,
    enrich: Vec<CompiledEnrich>,
}

/// A route's `enrich` entry, with its method and expressions compiled.
#[derive(Debug)]
struct CompiledEnrich {
    uses: String,
    method: Arc<CompiledMethod>,
    /// Carries the entry's query and body mappings, for planning its requests like a route's.
    route: Box<CompiledRoute>,
    max_items: usize,
    record_key: Expr,
    /// `None` (only with `max_items: 1`): each answer goes to the record it was planned for.
    key: Option<Expr>,
    merge: Expr,
    /// Every page of the method's answer is read (`all_pages`).
    all_pages: bool,
}

/// A route's `chunk`, with its merge key compiled.
#[derive(Debug)]
struct CompiledChunk {
    raw: file::Chunk,
    merge_key: Expr,
}

#[derive(Debug)]
struct CompiledOperation {
    routes: Vec<CompiledRoute>,
    record_mapping: Option<Expr>,
    returns: file::WriteReturns,
    id_expr: Option<Expr>,
    walk: file::RouteWalk,
    /// Lists only: the object's bulk export.
    bulk: Option<CompiledBulk>,
    /// Writes: the compiled `patterns` of the write; lists: the `item_pattern`s of its
    /// filters, by filter name.
    patterns: Vec<(String, regex::Regex)>,
    /// Updates: the compiled `types.ids` of the write, by type.
    type_ids: Vec<(String, regex::Regex)>,
}

/// A list's `bulk` export, each step's request compiled like a route's.
#[derive(Debug)]
struct CompiledBulk {
    raw: file::BulkRead,
    count: Option<(CompiledRoute, Expr)>,
    create: CompiledRoute,
    job_id: Expr,
    poll: CompiledRoute,
    done_when: Expr,
    failed_when: Expr,
    message: Option<Expr>,
    results: CompiledRoute,
    next_locator: Expr,
    delimiter: u8,
}

#[derive(Debug)]
struct CompiledErrorRule {
    rule: file::ErrorRule,
    when: Expr,
}

#[derive(Debug)]
struct CompiledDiscovery {
    method: Arc<CompiledMethod>,
    uses: String,
    records: Option<Expr>,
    field_mapping: Expr,
    ttl_secs: u64,
    enrich: Option<CompiledEnrichment>,
}

/// A discovery's second request (`enrich`), compiled.
#[derive(Debug)]
struct CompiledEnrichment {
    method: Arc<CompiledMethod>,
    uses: String,
    records: Option<Expr>,
    key: Expr,
    field_mapping: Expr,
}

/// The JSON Schema of connector files, for editors and CI.
pub fn connector_file_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ConnectorFile))
        .expect("a generated schema always serialises")
}

/// A write field narrowed to a list of values (a write's `values`).
#[derive(Debug, Clone, PartialEq)]
pub struct NarrowedField<'a> {
    /// The unified field.
    pub name: &'a str,
    /// The values it takes (for a list field, the values of its items).
    pub values: Vec<serde_json::Value>,
    /// Whether the values are an account's own options, read from its discovered fields (they
    /// can change at the vendor).
    pub discovered: bool,
}
