//! The record operations on a [`Bound`] connection: a list page, get, create, update, delete,
//! and the field listing. Each takes a typed request, validates it completely before any vendor
//! call (a bad input never leaves a write half done), plans through the connector, sends through
//! the connection's session, and maps answers into normalised unified records.

use std::sync::Arc;

use connector::file::FilterKind;
use connector::{DiscoveredField, ListCursor, Operation, PageState};
use serde_json::{Map, Value, json};
use unified_model::UnifiedObject;

use crate::OpError;
use crate::bound::Bound;
use crate::cursor::filter_hash;

/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: u64 = 1000;
/// Page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// List pages fetched in a row when the vendor answers empty pages that still have a next one.
const MAX_EMPTY_PAGES: usize = 8;
/// The most pages one `enrich` request that reads every page (`all_pages`) follows: a vendor
/// whose paging never ends fails the request rather than looping.
const MAX_ENRICH_PAGES: usize = 1000;
/// Most values a list filter may carry.
const MAX_FILTER_VALUES: usize = 100;

/// What a caller asks to be included beside each record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Include {
    /// The vendor's raw record as `remote_data`.
    pub remote_data: bool,
    /// The object's sensitive fields (`UnifiedObject::sensitive_fields`), withheld otherwise;
    /// only on a connection whose account allows them.
    pub sensitive_fields: bool,
}

/// The account field, and its value, by which a connection allows sensitive fields.
pub const SENSITIVE_FIELDS_ACCOUNT_FIELD: (&str, &str) = ("sensitive_fields", "allowed");

impl Include {
    /// Parses `include` values (comma-separated, possibly repeated).
    ///
    /// # Errors
    /// Names an unknown or empty value (`include=` names nothing, which is a caller's slip).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Include, OpError> {
        let mut include = Include::default();
        for value in values {
            for part in value.split(',').map(str::trim) {
                match part {
                    "" => {
                        return Err(OpError::invalid(
                            "include",
                            "names nothing; give one or more of: remote_data, sensitive_fields",
                        ));
                    }
                    "remote_data" => include.remote_data = true,
                    "sensitive_fields" => include.sensitive_fields = true,
                    other => {
                        return Err(OpError::invalid(
                            "include",
                            format!(
                                "`{other}` is not includable (known: remote_data, \
                                 sensitive_fields)"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(include)
    }
}

/// One page of a unified list, as asked.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Filters by name, as the caller wrote their values; checked against the connector's
    /// declared filters of the object.
    pub filters: Vec<(String, String)>,
    /// Records per page (default [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`]).
    pub page_size: Option<u64>,
    /// The cursor a previous page returned.
    pub cursor: Option<String>,
    pub include: Include,
}

/// One page of unified records.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub results: Vec<Value>,
    /// Records that could not be mapped (`index`, `remote_id`, `detail`).
    pub errors: Vec<Value>,
    /// The cursor of the next page, absent on the last.
    pub next_cursor: Option<String>,
}

/// The code of a list's item error for a mapped record that does not fit the unified schema.
const INVALID_RECORD: &str = "invalid_record";

/// The vendor id of a mapped record, as text, when it has one.
fn remote_id_of(mapped: &Value) -> Option<String> {
    mapped.get("id").and_then(|id| match id {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    })
}

/// A record in its published shape, with `remote_data` when asked (or, when it does not fit
/// the unified schema, its id and why).
pub(crate) fn finish(
    object: UnifiedObject,
    mapped: Value,
    raw: Value,
    include: Include,
) -> Result<Value, (Option<String>, String)> {
    let remote_id = remote_id_of(&mapped);
    let mut record = object
        .normalize(mapped)
        .map_err(|error| (remote_id, error.to_string()))?;
    withhold_sensitive(object, &mut record, include);
    if include.remote_data
        && let Value::Object(map) = &mut record
    {
        map.insert("remote_data".to_owned(), raw);
    }
    Ok(record)
}

/// Empties the object's sensitive fields of `record` (null, `[]` for a list) unless the caller
/// asked for them (and [`Bound::check_include`] found the connection allows it).
pub(crate) fn withhold_sensitive(object: UnifiedObject, record: &mut Value, include: Include) {
    if include.sensitive_fields {
        return;
    }
    let Value::Object(map) = record else { return };
    for field in object.sensitive_fields() {
        if let Some(value) = map.get_mut(*field) {
            *value = if value.is_array() {
                Value::Array(Vec::new())
            } else {
                Value::Null
            };
        }
    }
}

/// How a written record's warnings begin.
const WRITTEN: &str = "the provider accepted the write";
/// How the warnings of an update that names nothing to change begin.
const NOTHING_WRITTEN: &str = "nothing was written (the body names no change)";
/// How the warnings of a record read (a get, a list page's record) begin.
pub(crate) const READ: &str = "the provider's record was read";

/// Fields of a record left out before giving up on normalising it.
const MAX_UNREADABLE_FIELDS: usize = 8;

/// A record in its published shape, read leniently: a field whose value the unified types
/// cannot hold (an integer out of range, a date past year 9999, a currency that is not an
/// ISO 4217 code) is set to null with a warning naming it and why, so the caller still gets
/// the record. `Err` when even so it cannot be made (its id is what fails, or too many fields
/// do), with the last normalisation error.
pub(crate) fn finish_leniently(
    object: UnifiedObject,
    mut mapped: Value,
    raw: Value,
    include: Include,
    lead: &str,
    warnings: &mut Vec<String>,
) -> Result<Value, unified_model::ModelError> {
    let mut unreadable = 0;
    loop {
        let error = match object.normalize(mapped.clone()) {
            Ok(mut record) => {
                withhold_sensitive(object, &mut record, include);
                if include.remote_data
                    && let Value::Object(map) = &mut record
                {
                    map.insert("remote_data".to_owned(), raw);
                }
                return Ok(record);
            }
            Err(error) => error,
        };
        let field = error
            .path()
            .and_then(|path| path.split(['.', '[']).next())
            .filter(|field| !field.is_empty() && !["id", "remote_id"].contains(field))
            .map(str::to_owned);
        let slot = field.as_ref().and_then(|field| {
            mapped
                .get_mut(field.as_str())
                .filter(|value| !value.is_null())
        });
        let (Some(field), Some(slot)) = (field, slot) else {
            return Err(error);
        };
        if unreadable == MAX_UNREADABLE_FIELDS {
            return Err(error);
        }
        unreadable += 1;
        *slot = Value::Null;
        warnings.push(format!(
            "{lead}, but `{field}` could not be read and is null: {error}"
        ));
    }
}

/// `warnings` added to `record` (an object), when there are any.
pub(crate) fn with_warnings(mut record: Value, warnings: Vec<String>) -> Value {
    if !warnings.is_empty()
        && let Value::Object(map) = &mut record
    {
        map.insert(
            "warnings".to_owned(),
            Value::Array(warnings.into_iter().map(Value::String).collect()),
        );
    }
    record
}

/// A record the vendor has just written, in its published shape (see [`finish_leniently`]):
/// the caller still gets the record, or at least its id, rather than an error after the
/// vendor wrote.
fn finish_written(
    object: UnifiedObject,
    mapped: Value,
    raw: Value,
    include: Include,
    lead: &str,
    warnings: &mut Vec<String>,
) -> Value {
    let id = mapped.get("id").cloned().unwrap_or(Value::Null);
    let remote_id = mapped
        .get("remote_id")
        .cloned()
        .unwrap_or_else(|| id.clone());
    match finish_leniently(object, mapped, raw, include, lead, warnings) {
        Ok(record) => record,
        Err(_) => {
            warnings.push(format!(
                "{lead}, but the record it answered could not be read back"
            ));
            json!({"id": id, "remote_id": remote_id})
        }
    }
}

/// The vendor's record `remote_id` of `object` cannot be made a unified record at all: the
/// vendor's failure (a 502), not ours.
fn unreadable_record(object: UnifiedObject, remote_id: Option<&str>, detail: &str) -> OpError {
    OpError::Upstream {
        code: INVALID_RECORD,
        detail: match remote_id {
            Some(id) => format!(
                "the provider's record `{id}` cannot be read as one of `{}`: {detail}",
                object.slug()
            ),
            None => format!(
                "the provider's record cannot be read as one of `{}`: {detail}",
                object.slug()
            ),
        },
    }
}

/// Why a written record could not be read back, in words safe for the caller.
fn describe_read_failure(error: &OpError) -> String {
    match error {
        OpError::Internal(_) => "internal error".to_owned(),
        other => other.to_string(),
    }
}

/// The canonical value of one filter, as the connector's mappings expect it.
fn parse_filter(
    object: UnifiedObject,
    name: &str,
    kind: FilterKind,
    value: &str,
) -> Result<Value, OpError> {
    match kind {
        FilterKind::String => {
            if value.is_empty() {
                return Err(OpError::invalid(name, "must not be empty"));
            }
            let value = object
                .standard_filter(name, value)
                .map_err(|reason| OpError::invalid(name, reason))?;
            Ok(Value::String(value))
        }
        FilterKind::Datetime => {
            let parsed = chrono::DateTime::parse_from_rfc3339(value).map_err(|error| {
                OpError::invalid(
                    name,
                    format!("must be an RFC 3339 date-time such as 2024-01-31T00:00:00Z: {error}"),
                )
            })?;
            // No record of any vendor changed before 1970, and vendors that take epoch numbers
            // refuse negative ones: an earlier instant selects what the epoch does.
            let parsed = parsed
                .with_timezone(&chrono::Utc)
                .max(chrono::DateTime::UNIX_EPOCH);
            Ok(Value::String(
                parsed.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ))
        }
        FilterKind::StringList => {
            let items: Vec<Value> = value
                .split(',')
                .filter(|item| !is_blank(item))
                .map(|item| item.trim_matches(blank_char))
                .map(|item| Value::String(item.to_owned()))
                .collect();
            if items.is_empty() {
                return Err(OpError::invalid(name, "must list at least one value"));
            }
            if items.len() > MAX_FILTER_VALUES {
                return Err(OpError::invalid(
                    name,
                    format!("may list at most {MAX_FILTER_VALUES} values"),
                ));
            }
            Ok(Value::Array(items))
        }
    }
}

/// Whether a list filter was left with no value that could name a record (every value it was
/// given failed its `item_pattern`): then no record matches.
fn selects_nothing(filters: &Map<String, Value>) -> bool {
    filters
        .values()
        .any(|value| value.as_array().is_some_and(Vec::is_empty))
}

/// A list's page size: the default when none is asked for.
///
/// # Errors
/// A size out of bounds names `page_size`.
pub(crate) fn list_page_size(requested: Option<u64>) -> Result<u64, OpError> {
    Ok(match requested {
        None => DEFAULT_PAGE_SIZE,
        Some(size) if (1..=MAX_PAGE_SIZE).contains(&size) => size,
        Some(_) => {
            return Err(OpError::invalid(
                "page_size",
                format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
            ));
        }
    })
}

/// The caller's update merged over the current unified record: writable fields the caller
/// did not send keep their current values; `custom_fields` merge key by key.
fn merge_over_current(object: UnifiedObject, current: Value, update: Value) -> Value {
    let (Value::Object(mut merged), Value::Object(update)) = (current, update) else {
        return Value::Null;
    };
    let read_only = object.read_only_fields();
    merged.retain(|key, _| !read_only.contains(&key.as_str()));
    for (key, value) in update {
        match (merged.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(patch)) if key == "custom_fields" => {
                existing.extend(patch);
            }
            (_, value) => {
                merged.insert(key, value);
            }
        }
    }
    Value::Object(merged)
}

impl Bound {
    /// Refuses an operation the connector does not serve on `object`.
    pub(crate) fn supported(
        &self,
        object: UnifiedObject,
        operation: Operation,
    ) -> Result<(), OpError> {
        if self.connector().supports(&object.key(), operation) {
            Ok(())
        } else {
            Err(OpError::Unsupported(format!(
                "provider `{}` does not support `{}` on `{}`",
                self.connector().id(),
                operation.as_str(),
                object.slug()
            )))
        }
    }

    /// What a list cursor is bound to: the connection, the object, the filters, and what the
    /// connector is made of (revision and override versions), so a cursor never outlives a
    /// change of route or mapping.
    fn cursor_scope(&self, object: UnifiedObject, filters: &Map<String, Value>) -> String {
        filter_hash(&[
            ("connection", self.connection.id.to_string()),
            ("object", object.key()),
            ("filters", Value::Object(filters.clone()).to_string()),
            ("connector", self.effective.version_key.clone()),
        ])
    }

    /// The list filters of `object` the caller asked for, checked against those the connector
    /// declares and parsed (a date-time normalized, a list split).
    ///
    /// # Errors
    /// An undeclared, repeated or malformed filter is refused naming it.
    pub(crate) fn list_filters(
        &self,
        object: UnifiedObject,
        requested: &[(String, String)],
    ) -> Result<Map<String, Value>, OpError> {
        let declared = self
            .connector()
            .file()
            .unified
            .get(&object.key())
            .and_then(|ops| ops.list.as_ref())
            .map(|list| list.filters.clone())
            .unwrap_or_default();
        let mut filters = Map::new();
        for (name, value) in requested {
            let Some(decl) = declared.get(name) else {
                let known: Vec<&str> = declared.keys().map(String::as_str).collect();
                return Err(OpError::invalid(
                    name,
                    format!(
                        "is not a filter of `{}` on `{}` (supported: {})",
                        object.slug(),
                        self.connector().id(),
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            };
            if filters.contains_key(name) {
                return Err(OpError::invalid(name, "is given more than once"));
            }
            let mut parsed = parse_filter(object, name, decl.kind, value)?;
            // Values no record of the vendor can have select nothing; the vendor is not sent
            // them (it would refuse them as malformed).
            if let (Value::Array(items), Some((_, pattern))) = (
                &mut parsed,
                self.connector()
                    .filter_item_patterns(&object.key())
                    .iter()
                    .find(|(filter, _)| filter == name),
            ) {
                items.retain(|item| item.as_str().is_some_and(|text| pattern.is_match(text)));
            }
            filters.insert(name.clone(), parsed);
        }
        Ok(filters)
    }

    /// Refuses what the caller may not include: the sensitive fields of an object that has some
    /// on a connection whose account does not allow them, and the raw record of an object with sensitive fields without them
    /// (it would carry them).
    ///
    /// # Errors
    /// An invalid request naming `include`.
    pub fn check_include(&self, object: UnifiedObject, include: Include) -> Result<(), OpError> {
        let (field, allowed) = SENSITIVE_FIELDS_ACCOUNT_FIELD;
        let sensitive = !object.sensitive_fields().is_empty();
        if include.sensitive_fields
            && sensitive
            && self.account().get(field) != Some(&json!(allowed))
        {
            return Err(OpError::invalid(
                "include",
                format!(
                    "`sensitive_fields` is not allowed on this connection (its account field \
                     `{field}` is not `{allowed}`)"
                ),
            ));
        }
        if include.remote_data && !include.sensitive_fields && sensitive {
            return Err(OpError::invalid(
                "include",
                format!(
                    "`remote_data` of `{object}` carries its sensitive fields: include \
                     `sensitive_fields` too, on a connection that allows them"
                ),
            ));
        }
        Ok(())
    }

    /// One page of `object`'s records.
    ///
    /// # Errors
    /// Invalid filters, page size or cursor name their field; vendor failures as [`OpError`].
    pub async fn list_page(
        &self,
        object: UnifiedObject,
        request: ListRequest,
    ) -> Result<ListPage, OpError> {
        self.supported(object, Operation::List)?;
        self.check_include(object, request.include)?;
        let key = object.key();
        let filters = self.list_filters(object, &request.filters)?;
        let page_size = list_page_size(request.page_size)?;
        if selects_nothing(&filters) {
            return Ok(ListPage {
                results: Vec::new(),
                errors: Vec::new(),
                next_cursor: None,
            });
        }
        let scope = self.cursor_scope(object, &filters);
        let cursors = &self.ops.inner.cursors;
        let mut cursor = match &request.cursor {
            None => ListCursor::default(),
            Some(text) => cursors
                .decode(&scope, text)
                .map_err(|reason| OpError::invalid("cursor", reason.to_owned()))?,
        };

        let mut ctx = self.context(&key).await?;
        ctx.query = Value::Object(filters);
        ctx.page_size = page_size;
        let ctx = Arc::new(ctx);

        let mut results = Vec::new();
        let mut errors = Vec::new();
        let mut next = None;
        for _ in 0..MAX_EMPTY_PAGES {
            let planned = {
                let (key, ctx, cursor) = (key.clone(), Arc::clone(&ctx), cursor.clone());
                self.evaluate(move |connector| connector.plan_list_requests(&key, &ctx, &cursor))
                    .await?
            };
            let plans = match planned {
                // The routes choose by the ids alone and none takes these: no record has them
                // (an id of no kind the vendor's routes know), so the list is empty.
                Err(connector::PlanError::NoRoute { inputs, .. })
                    if !inputs.is_empty() && inputs.iter().all(|input| input == "query.ids") =>
                {
                    return Ok(ListPage {
                        results: Vec::new(),
                        errors: Vec::new(),
                        next_cursor: None,
                    });
                }
                other => other?,
            };
            let answers = self.send_parts(plans).await?;
            let responses: Arc<Vec<connector::VendorResponse>> =
                Arc::new(answers.into_iter().map(|answer| answer.response).collect());
            let enrichments = self
                .enrich_page(&key, &ctx, &cursor, Arc::clone(&responses))
                .await?;
            let read = {
                let (key, ctx, cursor) = (key.clone(), Arc::clone(&ctx), cursor.clone());
                self.evaluate(move |connector| {
                    connector.read_list_enriched(&key, &ctx, &cursor, &responses, &enrichments)
                })
                .await?
            };
            let page = self.noted(&key, read).await?;
            for error in page.errors {
                errors.push(json!({
                    "index": error.index,
                    "remote_id": error.remote_id,
                    "code": error.code,
                    "detail": error.message,
                }));
            }
            for (mapped, raw) in page.records {
                // A field the vendor holds outside the unified types is null with a warning in
                // the record; a record that cannot be made even so is an item error.
                let remote_id = remote_id_of(&mapped);
                let mut warnings = Vec::new();
                match finish_leniently(object, mapped, raw, request.include, READ, &mut warnings) {
                    Ok(record) => results.push(with_warnings(record, warnings)),
                    Err(error) => errors.push(json!({
                        "remote_id": remote_id,
                        "code": INVALID_RECORD,
                        "detail": error.to_string(),
                    })),
                }
            }
            next = page.next;
            match &next {
                Some(following) if results.is_empty() && errors.is_empty() => {
                    cursor = following.clone();
                }
                _ => break,
            }
        }
        if let Some(ListCursor {
            p: PageState::Start,
            r: 0,
        }) = next
        {
            next = None;
        }
        Ok(ListPage {
            results,
            errors,
            next_cursor: next.map(|following| cursors.encode(&scope, &following)),
        })
    }

    /// Sends the follow-up requests of a list page whose route declares `enrich`, and answers
    /// them tagged by entry; nothing when the route declares none. A vendor error ends the
    /// sending early (reading the page reports it).
    async fn enrich_page(
        &self,
        key: &str,
        ctx: &Arc<connector::RequestContext>,
        cursor: &ListCursor,
        responses: Arc<Vec<connector::VendorResponse>>,
    ) -> Result<Vec<(usize, connector::VendorResponse)>, OpError> {
        if !self.connector().list_enriches(key) {
            return Ok(Vec::new());
        }
        let plans = {
            let (key, ctx, cursor) = (key.to_owned(), Arc::clone(ctx), cursor.clone());
            self.evaluate(move |connector| {
                connector.plan_list_enrichment(&key, &ctx, &cursor, &responses)
            })
            .await??
        };
        self.send_enrichments(key, ctx, Some(cursor), plans).await
    }

    /// Sends the follow-up requests of a get whose route declares `enrich`, and answers them
    /// tagged by entry; nothing when the route declares none. A vendor error ends the sending
    /// early (reading the record reports it).
    async fn enrich_record(
        &self,
        key: &str,
        ctx: &Arc<connector::RequestContext>,
        responses: Arc<Vec<connector::VendorResponse>>,
    ) -> Result<Vec<(usize, connector::VendorResponse)>, OpError> {
        if !self.connector().get_enriches(key) {
            return Ok(Vec::new());
        }
        let plans = {
            let (key, ctx) = (key.to_owned(), Arc::clone(ctx));
            self.evaluate(move |connector| connector.plan_record_enrichment(&key, &ctx, &responses))
                .await??
        };
        self.send_enrichments(key, ctx, None, plans).await
    }

    /// Sends planned follow-up requests in order, keeping each answer with its entry; a vendor
    /// error ends the sending early. An entry that reads every page (`all_pages`) has its
    /// next pages sent right after each answer, so an entry's answers stay together.
    /// `cursor` is the list page's; `None` for a get's.
    async fn send_enrichments(
        &self,
        key: &str,
        ctx: &Arc<connector::RequestContext>,
        cursor: Option<&ListCursor>,
        plans: Vec<connector::EnrichmentRequest>,
    ) -> Result<Vec<(usize, connector::VendorResponse)>, OpError> {
        let mut answers = Vec::with_capacity(plans.len());
        for plan in plans {
            // A whole list read a moment ago (the same request on the same connection) is
            // reused: a walk reads it once, not once per page.
            let cached = plan.reads_every_page().then(|| {
                crate::joined::JoinedLists::key(self.connection.id.as_ref(), &plan.request)
            });
            if let Some(found) = cached
                .as_deref()
                .and_then(|key| self.ops.inner.joined.get(key))
            {
                answers.extend(found.iter().map(|response| (plan.entry, response.clone())));
                continue;
            }
            let mut whole = Vec::new();
            let mut sent = plan;
            let mut pages = 0_usize;
            loop {
                let answer = self.send(sent.request.clone(), true).await?;
                let failed = answer.error.is_some();
                let response = answer.response;
                if failed {
                    answers.push((sent.entry, response));
                    return Ok(answers);
                }
                pages += 1;
                if !sent.reads_every_page() {
                    answers.push((sent.entry, response));
                    break;
                }
                whole.push(response.clone());
                let next = {
                    let (key, ctx, cursor) = (key.to_owned(), Arc::clone(ctx), cursor.cloned());
                    let (sent, response) = (sent.clone(), response.clone());
                    self.evaluate(move |connector| {
                        connector.plan_next_enrichment(
                            &key,
                            &ctx,
                            cursor.as_ref(),
                            &sent,
                            &response,
                        )
                    })
                    .await??
                };
                answers.push((sent.entry, response));
                match next {
                    Some(_) if pages >= MAX_ENRICH_PAGES => {
                        return Err(OpError::Internal(anyhow::anyhow!(
                            "an enrich request of `{key}` still had more pages after {MAX_ENRICH_PAGES}"
                        )));
                    }
                    Some(following) => sent = following,
                    None => {
                        if let Some(key) = cached {
                            self.ops.inner.joined.put(key, whole);
                        }
                        break;
                    }
                }
            }
        }
        Ok(answers)
    }

    /// One record of `object` read from the vendor (its get, then its enrichments) and mapped:
    /// the mapped record and the vendor's raw one.
    async fn read_one(&self, object: UnifiedObject, id: String) -> Result<(Value, Value), OpError> {
        let key = object.key();
        let mut ctx = self.context(&key).await?;
        ctx.id = Some(id);
        let ctx = Arc::new(ctx);
        let plans = {
            let (key, ctx) = (key.clone(), Arc::clone(&ctx));
            self.evaluate(move |connector| {
                connector.plan_requests(&key, Operation::Get, &ctx, &PageState::Start)
            })
            .await??
        };
        let responses: Arc<Vec<connector::VendorResponse>> = Arc::new(
            self.send_parts(plans)
                .await?
                .into_iter()
                .map(|answer| answer.response)
                .collect(),
        );
        let enrichments = self
            .enrich_record(&key, &ctx, Arc::clone(&responses))
            .await?;
        let read = {
            let (key, ctx) = (key.clone(), Arc::clone(&ctx));
            self.evaluate(move |connector| {
                connector.read_record_enriched(&key, Operation::Get, &ctx, &responses, &enrichments)
            })
            .await?
        };
        self.noted(&key, read).await
    }

    /// Reads one record exactly: a field the unified types cannot hold fails the read (the
    /// vendor's failure, a 502), where a caller's update is merged over the record and a
    /// field left out would be written as cleared.
    async fn read_back(
        &self,
        object: UnifiedObject,
        id: String,
        include: Include,
    ) -> Result<Value, OpError> {
        let (mapped, raw) = self.read_one(object, id).await?;
        finish(object, mapped, raw, include)
            .map_err(|(remote_id, detail)| unreadable_record(object, remote_id.as_deref(), &detail))
    }

    /// Reads one record to answer it: a field the unified types cannot hold is null with a
    /// warning (see [`finish_leniently`]), and a record that cannot be made even so is the
    /// vendor's failure (a 502).
    async fn read_leniently(
        &self,
        object: UnifiedObject,
        id: String,
        include: Include,
        lead: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Value, OpError> {
        let (mapped, raw) = self.read_one(object, id).await?;
        let remote_id = remote_id_of(&mapped);
        finish_leniently(object, mapped, raw, include, lead, warnings)
            .map_err(|error| unreadable_record(object, remote_id.as_deref(), &error.to_string()))
    }

    /// One record of `object` by its unified id.
    ///
    /// # Errors
    /// `NotFound` (from the vendor's answer) and other vendor failures as [`OpError`].
    pub async fn get(
        &self,
        object: UnifiedObject,
        id: String,
        include: Include,
    ) -> Result<Value, OpError> {
        self.supported(object, Operation::Get)?;
        self.check_include(object, include)?;
        let mut warnings = Vec::new();
        let record = self
            .read_leniently(object, id, include, READ, &mut warnings)
            .await?;
        // A vendor that keeps a deleted record as a tombstone (the connector's mapping says
        // `remote_deleted`) answers a read of it as the other vendors do: not found.
        if record.get("remote_deleted") == Some(&Value::Bool(true)) {
            return Err(OpError::Provider(connector::ProviderError {
                code: connector::ErrorCode::NotFound,
                action: connector::ErrorAction::Fail,
                rule: Some("remote_deleted".to_owned()),
                status: 200,
                vendor_code: None,
                message: Some("the record is deleted".to_owned()),
                field: None,
            }));
        }
        Ok(with_warnings(record, warnings))
    }

    /// Creates a record of `object` from a unified body; returns it as the vendor stored it.
    ///
    /// # Errors
    /// An invalid body names its field (before any vendor call); vendor failures as [`OpError`].
    pub async fn create(
        &self,
        object: UnifiedObject,
        body: Value,
        include: Include,
    ) -> Result<Value, OpError> {
        self.write(object, Operation::Create, None, body, include)
            .await
    }

    /// Updates the record `id` of `object` with a unified body (fields left out keep their
    /// values); returns it as the vendor stored it.
    ///
    /// # Errors
    /// As [`Bound::create`].
    pub async fn update(
        &self,
        object: UnifiedObject,
        id: String,
        body: Value,
        include: Include,
    ) -> Result<Value, OpError> {
        self.write(object, Operation::Update, Some(id), body, include)
            .await
    }

    /// Refuses an update whose body names a type (`types.field`) other than the record's: a
    /// record keeps its type, so this is a conflict with the record (409 `type_mismatch`), not
    /// a malformed body. The id tells the record's types (`types.ids`); when it tells several
    /// (one vendor object for two types), the record is read for its own. An id telling no type
    /// is not checked (no record has it: the routes answer 404).
    async fn check_record_type(
        &self,
        object: UnifiedObject,
        operation: Operation,
        id: Option<&str>,
        body: &Value,
    ) -> Result<(), OpError> {
        let key = object.key();
        let connector = self.connector();
        let (Operation::Update, Some(id), Some(types)) =
            (operation, id, connector.write_types(&key, operation))
        else {
            return Ok(());
        };
        let Some(kind) = body.get(&types.field).and_then(Value::as_str) else {
            return Ok(());
        };
        let of_id = connector.update_types_of_id(&key, id);
        let held = match of_id.as_slice() {
            [] => return Ok(()),
            [only] if *only == kind => return Ok(()),
            several if several.len() > 1 && several.contains(&kind) => {
                // Only its type is wanted: a field it holds outside the unified types is no
                // reason to refuse the update.
                let mut ignored = Vec::new();
                let record = self
                    .read_leniently(object, id.to_owned(), Include::default(), "", &mut ignored)
                    .await?;
                match record.get(&types.field).and_then(Value::as_str) {
                    Some(held) if held != kind => vec![held.to_owned()],
                    _ => return Ok(()),
                }
            }
            others => others.iter().map(|each| (*each).to_owned()).collect(),
        };
        Err(OpError::Conflict {
            code: "type_mismatch",
            field: format!("body.{}", types.field),
            detail: format!(
                "the record `{id}` of `{}` on `{}` is {}, not {kind}: a record keeps its {}",
                object.slug(),
                connector.id(),
                held.join(" or "),
                types.field
            ),
        })
    }

    async fn write(
        &self,
        object: UnifiedObject,
        operation: Operation,
        id: Option<String>,
        body: Value,
        include: Include,
    ) -> Result<Value, OpError> {
        self.supported(object, operation)?;
        self.check_include(object, include)?;
        // What the vendor joins with may change with the write: read it afresh.
        self.ops.inner.joined.forget(self.connection.id.as_ref());
        if !body.is_object() {
            return Err(OpError::invalid("body", "must be a JSON object"));
        }
        // The documents type `custom_fields` as an object of fields, without `null` (which the
        // record type reads as none, where a caller may mean "clear them all").
        if body
            .get("custom_fields")
            .is_some_and(|custom| !custom.is_object())
        {
            return Err(OpError::invalid_body(
                "body.custom_fields",
                "must be an object of custom field values",
            ));
        }
        let body = object
            .parse_write_body(body)
            .map_err(|error| OpError::Invalid {
                code: "invalid_body",
                field: error
                    .path()
                    .map(|path| format!("body.{path}"))
                    .or_else(|| Some("body".to_owned())),
                detail: error.to_string(),
            })?;
        let key = object.key();
        check_carried_fields(self.connector(), object, operation, &body)?;
        let mut fields = self.fields(&key).await?;
        let refusal = |fields: &[DiscoveredField]| {
            refused_write_value(self.connector(), object, operation, &body, fields).map(|refused| {
                let error = refused_value_error(self.connector(), object, &refused);
                (refused.discovered, error)
            })
        };
        let mut refused = refusal(&fields);
        // An account's own option list may have grown since discovery: a value outside it is
        // looked up once more (at most once a minute per connection and object) before it is
        // refused.
        if let Some((true, _)) = refused
            && let Some(fresh) = self.rediscover_unless_recent(&key).await?
        {
            refused = refusal(&fresh);
            fields = fresh;
        }
        if let Some((_, error)) = refused {
            return Err(error);
        }
        self.check_record_type(object, operation, id.as_deref(), &body)
            .await?;
        let body = check_custom_fields(object, body, &fields)?;
        // An update that names nothing to change (`{}`, or only empty `custom_fields` and
        // `remote_data`) changes nothing: the record is answered as it is, and the vendor is
        // not sent an empty write (which vendors refuse as malformed).
        // The type a record keeps (`types.field`), named by an update, changes nothing either.
        let changing = match self.connector().write_types(&key, operation) {
            Some(types) if operation == Operation::Update => {
                let mut rest = body.clone();
                if let Some(fields) = rest.as_object_mut() {
                    fields.remove(&types.field);
                }
                rest
            }
            _ => body.clone(),
        };
        if operation == Operation::Update
            && let Some(id) = &id
            && nothing_to_write(&changing)
        {
            // Answered as an update is: a field the vendor holds outside the unified types is
            // null with a warning, never an error (issue 15: a deal whose currency the vendor kept as
            // "" answered `PATCH {}` with 500).
            let mut warnings = Vec::new();
            let record = self
                .read_leniently(object, id.clone(), include, NOTHING_WRITTEN, &mut warnings)
                .await?;
            if record.get("remote_deleted") == Some(&Value::Bool(true)) {
                return self.get(object, id.clone(), include).await;
            }
            return Ok(with_warnings(record, warnings));
        }
        let (body, given) = match (&id, operation) {
            (Some(id), Operation::Update) if self.connector().update_merges_current(&key) => {
                let current = self
                    .read_back(object, id.clone(), Include::default())
                    .await?;
                (
                    merge_over_current(object, current, body.clone()),
                    Some(body),
                )
            }
            _ => (body, None),
        };
        let mut ctx = self.context_with(&fields);
        ctx.body = Some(body);
        ctx.given = given;
        ctx.id = id;
        let ctx = Arc::new(ctx);
        let plan = {
            let (key, ctx) = (key.clone(), Arc::clone(&ctx));
            self.evaluate(move |connector| connector.plan(&key, operation, &ctx, &PageState::Start))
                .await??
        };
        let answer = self.send(plan, false).await?;
        // A vendor error means nothing was written; anything else means the vendor accepted
        // the write, and from here on the answer is a success whatever goes wrong reading the
        // record back: an error would make a retrying caller write the record twice.
        {
            let (response, ctx) = (answer.response.clone(), Arc::clone(&ctx));
            let checked = self
                .evaluate(move |connector| connector.check_answer(&response, &ctx))
                .await?;
            self.noted(&key, checked).await?;
        }
        let mut warnings = Vec::new();
        let read = if self.connector().write_returns_record(&key, operation) {
            let (key, ctx, response) = (key.clone(), Arc::clone(&ctx), answer.response.clone());
            match self
                .evaluate(move |connector| connector.read_record(&key, operation, &ctx, &response))
                .await
            {
                Ok(Ok((mapped, raw))) => Ok(finish_written(
                    object,
                    mapped,
                    raw,
                    include,
                    WRITTEN,
                    &mut warnings,
                )),
                Ok(Err(error)) => Err(OpError::from(error)),
                Err(error) => Err(error),
            }
        } else {
            let read = {
                let (key, ctx, response) = (key.clone(), Arc::clone(&ctx), answer.response.clone());
                self.evaluate(move |connector| {
                    connector.read_written_id(&key, operation, &ctx, &response)
                })
                .await
            };
            match read {
                Ok(Ok(written)) => {
                    self.read_back_written(object, written, include, WRITTEN, &mut warnings)
                        .await
                }
                Ok(Err(error)) => Err(OpError::from(error)),
                Err(error) => Err(error),
            }
        };
        let record = match read {
            Ok(record) => record,
            Err(error) => {
                // The record could not be read at all: answer with its id, when the vendor's
                // answer (or the update's path) gives one.
                let id = {
                    let (key, ctx, response) =
                        (key.clone(), Arc::clone(&ctx), answer.response.clone());
                    self.evaluate(move |connector| {
                        connector.read_written_id(&key, operation, &ctx, &response)
                    })
                    .await
                    .ok()
                    .and_then(Result::ok)
                };
                warnings.push(format!(
                    "the provider accepted the write, but the record could not be read back: {}",
                    describe_read_failure(&error)
                ));
                tracing::warn!(
                    connection_id = %self.connection.id,
                    object = %key,
                    error = %error,
                    "written record could not be read back"
                );
                json!({"id": id, "remote_id": id})
            }
        };
        Ok(with_warnings(record, warnings))
    }

    /// Reads back a record the vendor has just written; a field that cannot be read is left
    /// out with a warning (see [`finish_written`]).
    async fn read_back_written(
        &self,
        object: UnifiedObject,
        id: String,
        include: Include,
        lead: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Value, OpError> {
        let (mapped, raw) = self.read_one(object, id).await?;
        Ok(finish_written(object, mapped, raw, include, lead, warnings))
    }

    /// Deletes the record `id` of `object`.
    ///
    /// # Errors
    /// Vendor failures as [`OpError`].
    pub async fn delete(&self, object: UnifiedObject, id: String) -> Result<(), OpError> {
        self.supported(object, Operation::Delete)?;
        self.ops.inner.joined.forget(self.connection.id.as_ref());
        let key = object.key();
        let mut ctx = self.context(&key).await?;
        ctx.id = Some(id);
        let plan = {
            let key = key.clone();
            self.evaluate(move |connector| {
                connector.plan(&key, Operation::Delete, &ctx, &PageState::Start)
            })
            .await??
        };
        let answer = self.send(plan, false).await?;
        let read = self
            .evaluate(move |connector| connector.read_delete(&answer.response))
            .await?;
        self.noted(&key, read).await
    }

    /// Every vendor field of the connection's objects of `category` (or of `only` that object),
    /// in one shape (`object`, `key`, `label`, `type`, `custom`, `required`, `read_only`,
    /// `options`).
    ///
    /// # Errors
    /// Discovery failures as [`OpError`].
    pub async fn list_fields(
        &self,
        category: &str,
        only: Option<UnifiedObject>,
    ) -> Result<Vec<Value>, OpError> {
        let objects: Vec<UnifiedObject> = UnifiedObject::of_category(category)
            .filter(|object| only.is_none_or(|only| only == *object))
            .filter(|object| {
                self.connector()
                    .file()
                    .discovery
                    .contains_key(&object.key())
            })
            .collect();
        let mut results = Vec::new();
        for object in objects {
            for field in self.fields(&object.key()).await? {
                let mut entry = serde_json::to_value(&field).map_err(OpError::internal)?;
                if let Value::Object(map) = &mut entry {
                    map.insert("object".to_owned(), Value::String(object.slug().to_owned()));
                }
                results.push(entry);
            }
        }
        Ok(results)
    }
}

/// Refuses, before any vendor call, a write body naming a field the connector's write does not
/// carry (it would be dropped without a word) and a create missing a field the vendor
/// requires; both name the unified field.
fn check_carried_fields(
    connector: &connector::Connector,
    object: UnifiedObject,
    operation: Operation,
    body: &Value,
) -> Result<(), OpError> {
    let key = object.key();
    let Value::Object(given) = body else {
        return Ok(());
    };
    if let Some(carried) = connector.write_fields(&key, operation)
        && let Some(name) = given.keys().find(|name| {
            !FREE_WRITE_FIELDS.contains(&name.as_str()) && !carried.iter().any(|each| each == *name)
        })
    {
        return Err(OpError::invalid_body(
            format!("body.{name}"),
            format!(
                "`{name}` cannot be written to `{}` on `{}` ({} writes: {}); `GET /unified/{}/{}/meta` shows what a connection can write",
                object.slug(),
                connector.id(),
                operation.as_str(),
                if carried.is_empty() {
                    "nothing".to_owned()
                } else {
                    carried.join(", ")
                },
                object.category(),
                object.slug(),
            ),
        ));
    }
    for name in connector.write_required(&key, operation) {
        if !has_value(given.get(name)) {
            return Err(OpError::invalid_body(
                format!("body.{name}"),
                format!(
                    "is required to {} `{}` on `{}`",
                    operation.as_str(),
                    object.slug(),
                    connector.id()
                ),
            ));
        }
    }
    // A field a create requires, or that the update declares `not_clearable`, cannot be
    // cleared by an update (the vendor would refuse the record without it, or keep its
    // value): `null`, blank text or an empty list is refused here, naming it.
    if operation == Operation::Update {
        let required = connector.write_required(&key, Operation::Create);
        for name in connector.update_not_clearable(&key) {
            if given.get(name).is_some() && !has_value(given.get(name)) {
                let why = if required.iter().any(|each| each == name) {
                    "it is required to create"
                } else {
                    "the provider always holds a value for it in"
                };
                return Err(OpError::invalid_body(
                    format!("body.{name}"),
                    format!(
                        "cannot be cleared: {why} `{}` on `{}`",
                        object.slug(),
                        connector.id()
                    ),
                ));
            }
        }
    }
    for group in connector.write_required_any(&key, operation) {
        if group.iter().any(|name| has_value(given.get(name))) {
            continue;
        }
        let first = group.first().map_or("", String::as_str);
        let names: Vec<String> = group.iter().map(|name| format!("`{name}`")).collect();
        return Err(OpError::invalid_body(
            format!("body.{first}"),
            format!(
                "{} `{}` on `{}` needs one of {}",
                operation.as_str(),
                object.slug(),
                connector.id(),
                names.join(", ")
            ),
        ));
    }
    for (name, most) in connector.write_max_items(&key, operation) {
        let longer = |value: &Value| matches!(value, Value::Array(items) if items.len() > most);
        if body_fields(given, name).into_iter().any(longer) {
            return Err(holds_at_most(name, most, "item", object, connector));
        }
    }
    for (name, kind) in connector.write_one_per(&key, operation) {
        let Some(Value::Array(items)) = given.get(name) else {
            continue;
        };
        let mut seen: Vec<&Value> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let Some(value) = item.get(kind).filter(|value| !value.is_null()) else {
                continue;
            };
            if seen.contains(&value) {
                return Err(OpError::invalid_body(
                    format!("body.{name}[{index}].{kind}"),
                    format!(
                        "a second item with {kind} {value}: `{}` on `{}` holds one item of each {kind} in `{name}`",
                        object.slug(),
                        connector.id()
                    ),
                ));
            }
            seen.push(value);
        }
    }
    for group in connector.write_exclusive(&key, operation) {
        let listed = || {
            let names: Vec<String> = group.iter().map(|name| format!("`{name}`")).collect();
            names.join(", ")
        };
        let mut given_values = group.iter().filter(|name| has_value(given.get(*name)));
        if let (Some(first), Some(second)) = (given_values.next(), given_values.next()) {
            return Err(OpError::invalid_body(
                format!("body.{second}"),
                format!(
                    "cannot be written with `{first}` to `{}` on `{}`: the vendor holds {} in one field, so one of them at most has a value",
                    object.slug(),
                    connector.id(),
                    listed()
                ),
            ));
        }
        // An update writes the vendor's field whole: the fields left out could not be kept.
        if operation == Operation::Update
            && let Some(named) = group.iter().find(|name| given.contains_key(*name))
            && let Some(missing) = group.iter().find(|name| !given.contains_key(*name))
        {
            return Err(OpError::invalid_body(
                format!("body.{missing}"),
                format!(
                    "must be given with `{named}` to update `{}` on `{}`: the vendor holds {} in one field, written whole (`null` or `[]` for the ones left empty)",
                    object.slug(),
                    connector.id(),
                    listed()
                ),
            ));
        }
    }
    for (name, range) in connector.write_ranges(&key, operation) {
        // A number, or a decimal text (money), compared as written: no float rounds it.
        let bound = |value: Option<f64>| value.map(|value| value.to_string());
        let (minimum, maximum) = (bound(range.minimum), bound(range.maximum));
        let step = bound(range.multiple_of);
        let beyond = |text: &str, bound: &Option<String>, side: std::cmp::Ordering| {
            bound
                .as_deref()
                .is_some_and(|bound| unified_model::compare_number_text(text, bound) == Some(side))
        };
        let outside = |value: &Value| {
            let text = match value {
                Value::Number(number) => number.to_string(),
                Value::String(text) => text.clone(),
                _ => return false,
            };
            // A step (`multiple_of`): whole numbers for a vendor's integer field, exactly
            // (a float says 0.3 is no multiple of 0.1).
            let off_step = step.as_deref().is_some_and(|step| {
                unified_model::is_multiple_of_text(text.trim(), step) == Some(false)
            });
            beyond(&text, &minimum, std::cmp::Ordering::Less)
                || beyond(&text, &maximum, std::cmp::Ordering::Greater)
                || off_step
        };
        if any_value_at(given, name, outside) {
            let bounds: Vec<String> = [
                ("at least", &minimum),
                ("at most", &maximum),
                ("a multiple of", &step),
            ]
            .into_iter()
            .filter_map(|(word, value)| value.as_ref().map(|value| format!("{word} {value}")))
            .collect();
            return Err(OpError::invalid_body(
                format!("body.{name}"),
                format!(
                    "must be {} to be written to `{}` on `{}` (what the vendor holds)",
                    bounds.join(" and "),
                    object.slug(),
                    connector.id()
                ),
            ));
        }
    }
    for (name, pattern) in connector.write_patterns(&key, operation) {
        let outside =
            |value: &Value| matches!(value, Value::String(text) if !pattern.is_match(text));
        if any_value_at(given, name, outside) {
            return Err(OpError::invalid_body(
                format!("body.{name}"),
                format!(
                    "must match `{}` to be written to `{}` on `{}` (the vendor's own format)",
                    pattern.as_str(),
                    object.slug(),
                    connector.id()
                ),
            ));
        }
    }
    for (name, most) in connector.write_max_length(&key, operation) {
        // Characters as Unicode code points, as JSON Schema's `maxLength` counts them.
        let longer =
            |value: &Value| matches!(value, Value::String(text) if text.chars().count() > most);
        if any_value_at(given, name, longer) {
            return Err(holds_at_most(name, most, "character", object, connector));
        }
    }
    check_typed_fields(connector, object, operation, given)?;
    for (name, others) in connector.write_requires(&key, operation) {
        if given.contains_key(name)
            && let Some(missing) = others.iter().find(|other| !given.contains_key(*other))
        {
            return Err(OpError::invalid_body(
                format!("body.{missing}"),
                format!(
                    "must be given with `{name}` to {} `{}` on `{}` (the vendor writes them together)",
                    operation.as_str(),
                    object.slug(),
                    connector.id()
                ),
            ));
        }
    }
    let instant = |name: &str| {
        given
            .get(name)
            .and_then(Value::as_str)
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
    };
    for (name, step) in connector.write_step_seconds(&key, operation) {
        let step_ms = i64::try_from(step.saturating_mul(1000)).unwrap_or(i64::MAX);
        if let Some(at) = instant(name)
            && at.timestamp_millis().rem_euclid(step_ms) != 0
        {
            return Err(OpError::invalid_body(
                format!("body.{name}"),
                format!(
                    "must be a whole {} to be written to `{}` on `{}` (the vendor holds no finer time: {step} seconds since 1970 in whole steps)",
                    if step == 60 {
                        "minute".to_owned()
                    } else {
                        format!("step of {step} seconds")
                    },
                    object.slug(),
                    connector.id()
                ),
            ));
        }
    }
    for (name, span) in connector.write_spans(&key, operation) {
        if let (Some(from), Some(to)) = (instant(&span.from), instant(name))
            && (to - from).num_milliseconds()
                > i64::try_from(span.maximum_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
        {
            return Err(OpError::invalid_body(
                format!("body.{name}"),
                format!(
                    "cannot be more than {} seconds after `{}` to be written to `{}` on `{}` (what the vendor holds)",
                    span.maximum_seconds,
                    span.from,
                    object.slug(),
                    connector.id()
                ),
            ));
        }
    }
    for group in connector.write_ordered(&key, operation) {
        let given_instants: Vec<(&String, chrono::DateTime<chrono::FixedOffset>)> = group
            .iter()
            .filter_map(|name| {
                let text = given.get(name).and_then(Value::as_str)?;
                Some((name, chrono::DateTime::parse_from_rfc3339(text).ok()?))
            })
            .collect();
        for (later_idx, (later, later_at)) in given_instants.iter().enumerate() {
            if let Some((earlier, _)) = given_instants[..later_idx]
                .iter()
                .find(|(_, earlier_at)| earlier_at > later_at)
            {
                return Err(OpError::invalid_body(
                    format!("body.{later}"),
                    format!(
                        "cannot be before `{earlier}` to be written to `{}` on `{}` (the vendor keeps them in order)",
                        object.slug(),
                        connector.id()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Refuses a write body naming a field its record's type does not hold (`types.only`), or
/// naming one without the type (an update: the body is checked without reading the record), or
/// without the fields that type writes it with (`types.requires`); each a 400 naming the field.
fn check_typed_fields(
    connector: &connector::Connector,
    object: UnifiedObject,
    operation: Operation,
    given: &Map<String, Value>,
) -> Result<(), OpError> {
    let key = object.key();
    let Some(types) = connector.write_types(&key, operation) else {
        return Ok(());
    };
    let field = types.field.as_str();
    if given.get(field).is_some_and(|value| !value.is_string()) {
        return Err(OpError::invalid_body(
            format!("body.{field}"),
            format!(
                "names the record's {field} (text): a record of `{}` on `{}` keeps its {field}, which cannot be cleared",
                object.slug(),
                connector.id()
            ),
        ));
    }
    let kind = given.get(field).and_then(Value::as_str);
    for (name, held) in &types.only {
        if !given.contains_key(name) {
            continue;
        }
        match kind {
            None => {
                return Err(OpError::invalid_body(
                    format!("body.{field}"),
                    format!(
                        "must be given with `{name}` to {} `{}` on `{}`: only a record whose {field} is {} holds `{name}`",
                        operation.as_str(),
                        object.slug(),
                        connector.id(),
                        held.join(" or ")
                    ),
                ));
            }
            Some(kind) if !held.iter().any(|each| each == kind) => {
                return Err(OpError::invalid_body(
                    format!("body.{name}"),
                    format!(
                        "is not held by a record of `{}` on `{}` whose {field} is {kind} (only by {})",
                        object.slug(),
                        connector.id(),
                        held.join(" or ")
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(rules) = kind.and_then(|kind| types.requires.get(kind)) {
        for (name, others) in rules {
            if given.contains_key(name)
                && let Some(missing) = others.iter().find(|other| !given.contains_key(*other))
            {
                return Err(OpError::invalid_body(
                    format!("body.{missing}"),
                    format!(
                        "must be given with `{name}` to {} `{}` on `{}` when its {field} is {} (the vendor writes them together)",
                        operation.as_str(),
                        object.slug(),
                        connector.id(),
                        kind.unwrap_or_default()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The refusal of a body field longer than the vendor holds: at most `most` `unit`s.
fn holds_at_most(
    name: &str,
    most: usize,
    unit: &str,
    object: UnifiedObject,
    connector: &connector::Connector,
) -> OpError {
    OpError::invalid_body(
        format!("body.{name}"),
        format!(
            "takes at most {most} {unit}{} to be written to `{}` on `{}` (what the vendor holds)",
            if most == 1 { "" } else { "s" },
            object.slug(),
            connector.id()
        ),
    )
}

/// The first field of a write body given a value the connector's write does not take (its
/// `values`, listed or read from the connection's discovered fields), with the values it takes.
fn refused_write_value<'a>(
    connector: &'a connector::Connector,
    object: UnifiedObject,
    operation: Operation,
    body: &Value,
    fields: &'a [DiscoveredField],
) -> Option<connector::NarrowedField<'a>> {
    let Value::Object(given) = body else {
        return None;
    };
    connector
        .write_values(&object.key(), operation, fields)
        .into_iter()
        .find(|narrowed| {
            any_value_at(given, narrowed.name, |value| {
                !value.is_null() && !narrowed.values.contains(value)
            })
        })
}

/// The values of a write body's field named by `path`: a top-level field (`title`) or, dotted,
/// a field of an object field (`amount.currency`) or of each item of a list field
/// (`email_addresses.email_address`, one value per item). How a write's `values`, `ranges` and
/// `patterns` reach what they check.
fn body_fields<'a>(given: &'a Map<String, Value>, path: &str) -> Vec<&'a Value> {
    let mut segments = path.split('.');
    let mut reached: Vec<&Value> = segments
        .next()
        .and_then(|first| given.get(first))
        .into_iter()
        .collect();
    for segment in segments {
        reached = reached
            .into_iter()
            .flat_map(|value| match value {
                Value::Array(items) => items.iter().collect(),
                value => vec![value],
            })
            .filter_map(|value| value.get(segment))
            .collect();
    }
    reached
}

/// Whether `refused` holds for a value of a write body's field named by `path` ([`body_fields`]),
/// or for an item of it when it is a list: the one walk of a write's `values`, `ranges` and
/// `patterns`.
fn any_value_at(given: &Map<String, Value>, path: &str, refused: impl Fn(&Value) -> bool) -> bool {
    body_fields(given, path)
        .into_iter()
        .any(|value| match value {
            Value::Array(items) => items.iter().any(&refused),
            value => refused(value),
        })
}

/// The answer to a write refused by [`refused_write_value`]: a 400 naming the field and the
/// values it takes.
fn refused_value_error(
    connector: &connector::Connector,
    object: UnifiedObject,
    refused: &connector::NarrowedField<'_>,
) -> OpError {
    let listed: Vec<String> = refused.values.iter().map(Value::to_string).collect();
    OpError::invalid_body(
        format!("body.{}", refused.name),
        format!(
            "`{}` on `{}` takes {} for `{}`",
            object.slug(),
            connector.id(),
            listed.join(", "),
            refused.name
        ),
    )
}

/// Whether a write body's field has a value: absent, null, blank text and an empty list are
/// none.
fn has_value(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(text)) => !is_blank(text),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => true,
    }
}

/// Whether `text` has nothing but blanks: what Python's `str.isspace` calls a space (Unicode
/// white space and the separators U+001C to U+001F), which is what a document's `\S` pattern
/// ([`NOT_BLANK`]) means to the tools that read it.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(blank_char)
}

/// A character [`is_blank`] text is made of.
fn blank_char(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The JSON Schema pattern of text that is not blank ([`is_blank`]).
pub const NOT_BLANK: &str = "\\S";

/// The JSON Schema pattern of a list filter's value: comma-separated items of which at least
/// one is not blank (blank items are dropped, the others trimmed).
pub const LIST_FILTER_PATTERN: &str = "[^\\s,]";

/// Whether a write body names nothing to write: no field, and `custom_fields` and
/// `remote_data` absent, null or empty.
fn nothing_to_write(body: &Value) -> bool {
    let Value::Object(given) = body else {
        return false;
    };
    given.iter().all(|(name, value)| {
        FREE_WRITE_FIELDS.contains(&name.as_str())
            && match value {
                Value::Null => true,
                Value::Object(map) => map.is_empty(),
                _ => false,
            }
    })
}

/// Fields of a write body that follow their own rules, whatever a connector's write carries.
pub(crate) const FREE_WRITE_FIELDS: &[&str] = &["custom_fields", "remote_data"];

/// Checks a write's `custom_fields` against the connection's discovered fields: read-only
/// fields and values of the wrong type or outside an enumeration are refused naming the field,
/// and values are converted to the field's type where that is lossless (`"42"` for a number).
/// A field named by its vendor key is renamed to its unified key (naming one field both ways
/// is refused). A key that is no discovered custom field is refused: the mappings would drop it.
fn check_custom_fields(
    object: UnifiedObject,
    mut body: Value,
    fields: &[DiscoveredField],
) -> Result<Value, OpError> {
    let Some(Value::Object(custom)) = body.get_mut("custom_fields") else {
        return Ok(body);
    };
    if fields.is_empty() {
        // Nothing discovered for this object: the connector decides what to send.
        return Ok(body);
    }
    let given = std::mem::take(custom);
    for (key, value) in given {
        let unified = fields
            .iter()
            .find(|field| field.key != key && field.vendor_key() == key)
            .map_or(key.clone(), |field| field.key.clone());
        if custom.contains_key(&unified) {
            // The field's unified and vendor keys were both given.
            return Err(OpError::invalid_body(
                format!("body.custom_fields.{key}"),
                format!("names the same field as `{unified}`; give it once"),
            ));
        }
        custom.insert(unified, value);
    }
    for (key, value) in custom.iter_mut() {
        let path = format!("body.custom_fields.{key}");
        // The mappings write discovered custom fields only: anything else would be dropped
        // without a word, so it is refused (`remote_data` carries other vendor fields).
        let Some(field) = fields
            .iter()
            .find(|field| &field.key == key && field.custom)
        else {
            let detail = if fields.iter().any(|field| &field.key == key) {
                format!(
                    "`{key}` is a standard field of the provider; set it through its unified field or `remote_data`"
                )
            } else {
                format!(
                    "`{key}` is not a custom field of this connection; `GET /unified/{}/fields` lists them",
                    object.category()
                )
            };
            return Err(OpError::invalid_body(path, detail));
        };
        if field.read_only {
            return Err(OpError::invalid_body(
                path,
                format!("`{key}` is read-only at the provider"),
            ));
        }
        if value.is_null() {
            continue;
        }
        let converted = match (field.kind.as_deref(), &*value) {
            (Some("number"), Value::String(text)) => text
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number)),
            (Some("integer"), Value::String(text)) => {
                text.trim().parse::<i64>().ok().map(Value::from)
            }
            (Some("boolean"), Value::String(text)) => {
                match text.trim().to_ascii_lowercase().as_str() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    _ => None,
                }
            }
            (Some("number" | "integer"), Value::Number(_)) | (Some("boolean"), Value::Bool(_)) => {
                Some(value.clone())
            }
            (Some("number" | "integer" | "boolean"), _) => None,
            (Some("multi_enum" | "array"), Value::Array(_))
            | (Some("object"), Value::Object(_)) => Some(value.clone()),
            (Some("multi_enum" | "array" | "object"), _) => None,
            // Dates are the document's `format: date` (RFC 3339 `full-date`) and `date-time`.
            (Some("date"), Value::String(text)) => (text.len() == 10
                && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok())
            .then(|| value.clone()),
            (Some("datetime"), Value::String(text)) => chrono::DateTime::parse_from_rfc3339(text)
                .is_ok()
                .then(|| value.clone()),
            // Text kinds take text only (an object was written as the text `{}`).
            (None | Some("string" | "text"), Value::String(_)) => Some(value.clone()),
            (None | Some("string" | "text" | "date" | "datetime"), _) => None,
            // An enumeration's values are checked against its options below (a vendor's option
            // values may be numbers, as option sets' are); other kinds pass as given.
            _ => Some(value.clone()),
        };
        let Some(converted) = converted else {
            let detail = match field.kind.as_deref() {
                Some("date") => "must be a date (YYYY-MM-DD)".to_owned(),
                Some("datetime") => "must be a date-time (RFC 3339)".to_owned(),
                kind => format!("must be a {} value", kind.unwrap_or("string")),
            };
            return Err(OpError::invalid_body(path, detail));
        };
        if field.kind.as_deref() == Some("enum")
            && !field.options.is_empty()
            && !field
                .options
                .iter()
                .any(|option| option.get("value") == Some(&converted))
        {
            let allowed: Vec<String> = field
                .options
                .iter()
                .filter_map(|option| option.get("value").map(|value| value.to_string()))
                .collect();
            return Err(OpError::invalid_body(
                path,
                format!("must be one of: {}", allowed.join(", ")),
            ));
        }
        *value = converted;
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPPORTUNITIES: UnifiedObject =
        UnifiedObject::Crm(unified_model::CrmObject::Opportunities);

    /// A shipped connector whose opportunity create steps `probability` by `step`.
    fn stepping(step: &str) -> connector::Connector {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("connectors/ is listable")
            .filter_map(|entry| Some(entry.ok()?.path().join("connector.yaml")))
            .collect();
        files.sort();
        files
            .iter()
            .find_map(|file| {
                let text = std::fs::read_to_string(file).ok()?;
                let at = text.find("\n  crm.opportunities:\n")?;
                let create = at + text[at..].find("\n    create:\n")?;
                let fields = create + text[create..].find("\n      fields: [")?;
                let end = fields + 1 + text[fields + 1..].find('\n')?;
                let line = &text[fields..end];
                if !line.contains("probability") {
                    return None;
                }
                let changed = format!(
                    "{}\n      ranges: {{probability: {{multiple_of: {step}}}}}{}",
                    &text[..end],
                    &text[end..]
                );
                connector::load_connector_from_str("connector.yaml", &changed, None).ok()
            })
            .expect("a connector writing an opportunity's probability")
    }

    fn check(connector: &connector::Connector, probability: &str) -> Result<(), OpError> {
        let mut body: Map<String, Value> = Map::new();
        // What the create requires, so that the step is what is checked.
        let key = OPPORTUNITIES.key();
        for name in connector.write_required(&key, Operation::Create) {
            body.insert(name.clone(), Value::String("x".to_owned()));
        }
        for group in connector.write_required_any(&key, Operation::Create) {
            if let Some(first) = group.first() {
                body.insert(first.clone(), Value::String("x".to_owned()));
            }
        }
        body.insert(
            "probability".to_owned(),
            serde_json::from_str(probability).expect("a number"),
        );
        check_carried_fields(
            connector,
            OPPORTUNITIES,
            Operation::Create,
            &Value::Object(body),
        )
    }
    /// A write's `multiple_of` is checked on the number as written (issue 15): a float says
    /// 0.3 is no multiple of 0.1, and that 12345678901234567891 is a multiple of 2.
    #[test]
    fn a_step_is_checked_exactly() {
        let tenths = stepping("0.1");
        assert!(check(&tenths, "0.3").is_ok());
        assert!(check(&tenths, "0.35").is_err());
        let even = stepping("2");
        assert!(check(&even, "12345678901234567890").is_ok());
        let refused = check(&even, "12345678901234567891").expect_err("odd");
        assert!(refused.to_string().contains("a multiple of 2"), "{refused}");
        assert!(check(&even, "50.00000000000000001").is_err());
    }
}
