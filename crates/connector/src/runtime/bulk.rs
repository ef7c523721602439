//! Bulk exports of a unified object (a list's `bulk`): planning the count, the job's creation,
//! its polls and its result pages, and reading their answers.
//!
//! Result pages are CSV: each row becomes a raw record keyed by the header's column names (a
//! dotted name such as `Account.Name` becomes a nested object, as the vendor's JSON nests
//! parent fields), its cells typed from the discovered fields (`integer`, `number`, `boolean`;
//! everything else stays text) with an empty cell read as null, since CSV cannot tell an empty
//! text from no value. The list's `record_mapping` then maps these records exactly as it maps
//! the list's own. A page's rows are read and mapped a batch at a time
//! ([`Connector::open_bulk_results`], then [`Connector::read_bulk_rows`]), so whatever the size
//! of the page the vendor sends, only its text and one batch of records are held at once.
//! Waiting between polls and keeping the job's id and locator are the caller's: this module
//! reads no clock.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use mapping::Vars;

use super::{
    PageState, PlanError, PlannedRequest, ReadError, RecordError, RequestContext, VendorResponse,
    place_param, read_mapping_error, token_text, truthy,
};
use crate::{CompiledBulk, Connector, Operation};

/// Where an export job stands, as its poll's answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkState {
    /// Not done yet: poll again later.
    Pending,
    /// The results can be read.
    Done,
    /// The job will never be done, with the vendor's reason when it gives one.
    Failed(Option<String>),
}

/// One page of an export's results.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkPage {
    /// Mapped records, with the raw record (the typed CSV row) of each.
    pub records: Vec<(Value, Value)>,
    /// Rows that could not be mapped.
    pub errors: Vec<RecordError>,
    /// The locator of the next page; `None` on the last.
    pub next_locator: Option<String>,
}

/// One page of an export's results, opened but not yet read: its rows are read and mapped a
/// batch at a time by [`Connector::read_bulk_rows`].
#[derive(Debug)]
pub struct BulkResults {
    /// The locator of the next page; `None` on the last.
    pub next_locator: Option<String>,
    /// The page's CSV text.
    text: String,
    /// Where the next row starts in `text`.
    offset: usize,
    /// Each column's path in the raw record (`Account.Name` is `["Account", "Name"]`) and its
    /// unified type; read from the header row.
    columns: Vec<(Vec<String>, Option<String>)>,
    delimiter: u8,
    /// The index of the next row in the page.
    index: usize,
    /// Every row has been read.
    done: bool,
}

impl BulkResults {
    /// Every row of the page has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes of CSV text the page holds.
    pub fn len_bytes(&self) -> usize {
        self.text.len()
    }
}

impl Connector {
    fn compiled_bulk(&self, object: &str) -> Result<&CompiledBulk, PlanError> {
        self.operation(object, Operation::List)?
            .bulk
            .as_ref()
            .ok_or_else(|| PlanError::Unsupported {
                object: object.to_owned(),
                operation: "bulk",
            })
    }

    fn read_bulk_config(&self, object: &str) -> Result<&CompiledBulk, ReadError> {
        self.compiled_bulk(object)
            .map_err(|error| ReadError::Invalid(error.to_string()))
    }

    /// The bulk export `object`'s list declares, if any.
    pub fn bulk_read(&self, object: &str) -> Option<&crate::file::BulkRead> {
        self.compiled_bulk(object).ok().map(|bulk| &bulk.raw)
    }

    /// Plans the request counting `object`'s records; `None` when the export declares none.
    ///
    /// # Errors
    /// Fails when the object has no export or a mapping or template fails.
    pub fn plan_bulk_count(
        &self,
        object: &str,
        ctx: &RequestContext,
    ) -> Result<Option<PlannedRequest>, PlanError> {
        let bulk = self.compiled_bulk(object)?;
        let Some((route, _)) = &bulk.count else {
            return Ok(None);
        };
        self.plan_method(
            &route.method,
            &route.uses,
            Some(route),
            ctx,
            &PageState::Start,
        )
        .map(Some)
    }

    /// Reads the count's answer: the number of records, when the answer gives one.
    ///
    /// # Errors
    /// A vendor error, or a `count_expr` that fails.
    pub fn read_bulk_count(
        &self,
        object: &str,
        response: &VendorResponse,
    ) -> Result<Option<u64>, ReadError> {
        self.check(response)?;
        let bulk = self.read_bulk_config(object)?;
        let Some((_, count)) = &bulk.count else {
            return Ok(None);
        };
        let value = count
            .evaluate(Some(&response.body), &Vars::new())
            .map_err(read_mapping_error("bulk count_expr"))?;
        Ok(value.and_then(|value| match value {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }))
    }

    /// Plans the request creating an export job of `object`.
    ///
    /// # Errors
    /// Fails when the object has no export or a mapping or template fails.
    pub fn plan_bulk_create(
        &self,
        object: &str,
        ctx: &RequestContext,
    ) -> Result<PlannedRequest, PlanError> {
        let route = &self.compiled_bulk(object)?.create;
        self.plan_method(
            &route.method,
            &route.uses,
            Some(route),
            ctx,
            &PageState::Start,
        )
    }

    /// Reads the creation's answer: the job's id.
    ///
    /// # Errors
    /// A vendor error, or an answer without an id.
    pub fn read_bulk_create(
        &self,
        object: &str,
        response: &VendorResponse,
    ) -> Result<String, ReadError> {
        self.check(response)?;
        let bulk = self.read_bulk_config(object)?;
        token_text(
            bulk.job_id
                .evaluate(Some(&response.body), &Vars::new())
                .map_err(read_mapping_error("bulk job_id_expr"))?,
        )
        .ok_or_else(|| ReadError::Invalid("the vendor's answer holds no job id".to_owned()))
    }

    /// Plans a poll of the job `job_id`.
    ///
    /// # Errors
    /// Fails when the object has no export or a template fails.
    pub fn plan_bulk_poll(
        &self,
        object: &str,
        ctx: &RequestContext,
        job_id: &str,
    ) -> Result<PlannedRequest, PlanError> {
        let route = &self.compiled_bulk(object)?.poll;
        let ctx = RequestContext {
            id: Some(job_id.to_owned()),
            ..ctx.clone()
        };
        self.plan_method(
            &route.method,
            &route.uses,
            Some(route),
            &ctx,
            &PageState::Start,
        )
    }

    /// Reads a poll's answer.
    ///
    /// # Errors
    /// A vendor error (a job the vendor no longer knows, say), or an expression that fails.
    pub fn read_bulk_poll(
        &self,
        object: &str,
        response: &VendorResponse,
    ) -> Result<BulkState, ReadError> {
        self.check(response)?;
        let bulk = self.read_bulk_config(object)?;
        let holds = |expr: &mapping::Expr, what: &str| {
            expr.evaluate(Some(&response.body), &Vars::new())
                .map(|value| truthy(value.as_ref()))
                .map_err(read_mapping_error(format!("bulk poll {what}")))
        };
        if holds(&bulk.failed_when, "failed_when")? {
            let message = match &bulk.message {
                Some(expr) => token_text(
                    expr.evaluate(Some(&response.body), &Vars::new())
                        .map_err(read_mapping_error("bulk poll message_expr"))?,
                ),
                None => None,
            };
            return Ok(BulkState::Failed(message));
        }
        Ok(if holds(&bulk.done_when, "done_when")? {
            BulkState::Done
        } else {
            BulkState::Pending
        })
    }

    /// Plans the request of one page of the job's results: the first page without `locator`,
    /// each later one with the locator the page before gave. The page size is the context's
    /// (within the export's bounds), or the export's default when the context gives none.
    ///
    /// # Errors
    /// Fails when the object has no export or a template fails.
    pub fn plan_bulk_results(
        &self,
        object: &str,
        ctx: &RequestContext,
        job_id: &str,
        locator: Option<&str>,
    ) -> Result<PlannedRequest, PlanError> {
        let bulk = self.compiled_bulk(object)?;
        let route = &bulk.results;
        let ctx = RequestContext {
            id: Some(job_id.to_owned()),
            ..ctx.clone()
        };
        let mut request = self.plan_method(
            &route.method,
            &route.uses,
            Some(route),
            &ctx,
            &PageState::Start,
        )?;
        let results = &bulk.raw.results;
        let size = &results.page_size;
        let page_size = if ctx.page_size == 0 {
            size.default
        } else {
            ctx.page_size.clamp(1, size.max)
        };
        let mut body = std::mem::replace(&mut request.body, super::RequestBody::None);
        if let Some(param) = &size.param {
            place_param(
                param,
                json!(page_size),
                &mut request.query,
                &mut request.headers,
                &mut body,
            );
        }
        if let Some(locator) = locator {
            place_param(
                &results.locator,
                json!(locator),
                &mut request.query,
                &mut request.headers,
                &mut body,
            );
        }
        request.body = body;
        Ok(request)
    }

    /// Reads one page of results whole: its rows as typed raw records, mapped by the list's
    /// `record_mapping`, and the next page's locator. A sync reads a page a batch at a time
    /// instead ([`Connector::open_bulk_results`]).
    ///
    /// # Errors
    /// A vendor error, results that are not CSV, or a `next_locator_expr` that fails; a row
    /// that fails to map is a [`RecordError`] in the page.
    pub fn read_bulk_results(
        &self,
        object: &str,
        ctx: &RequestContext,
        response: &VendorResponse,
    ) -> Result<BulkPage, ReadError> {
        let mut results = self.open_bulk_results(object, ctx, response.clone())?;
        let mut records = Vec::new();
        let mut errors = Vec::new();
        while !results.is_done() {
            self.read_bulk_rows(object, ctx, &mut results, usize::MAX, |row| match row {
                Ok(pair) => records.push(pair),
                Err(error) => errors.push(error),
            })?;
        }
        Ok(BulkPage {
            records,
            errors,
            next_locator: results.next_locator,
        })
    }

    /// Opens one page of results: checks the answer, reads the next page's locator and the
    /// CSV header; the rows are left for [`Connector::read_bulk_rows`].
    ///
    /// # Errors
    /// A vendor error, results that are not CSV text, a header that does not read, or a
    /// `next_locator_expr` that fails.
    pub fn open_bulk_results(
        &self,
        object: &str,
        ctx: &RequestContext,
        response: VendorResponse,
    ) -> Result<BulkResults, ReadError> {
        self.check(&response)?;
        let bulk = self.read_bulk_config(object)?;
        let mut headers = Map::new();
        for (name, value) in &response.headers {
            headers
                .entry(name.to_ascii_lowercase())
                .or_insert_with(|| Value::String(value.clone()));
        }
        let next_locator = token_text(
            bulk.next_locator
                .evaluate(
                    Some(&json!({"status": response.status, "headers": headers})),
                    &Vars::new(),
                )
                .map_err(read_mapping_error("bulk results next_locator_expr"))?,
        );
        let text = match response.body {
            Value::Null => String::new(),
            Value::String(text) => text,
            other => {
                return Err(ReadError::Invalid(format!(
                    "bulk results must be CSV text, not {}",
                    match other {
                        Value::Array(_) => "a JSON array",
                        Value::Object(_) => "a JSON object",
                        _ => "a JSON value",
                    }
                )));
            }
        };
        let mut results = BulkResults {
            next_locator,
            text,
            offset: 0,
            columns: Vec::new(),
            delimiter: bulk.delimiter,
            index: 0,
            done: false,
        };
        if results.text.trim().is_empty() {
            results.done = true;
            return Ok(results);
        }
        results.offset = if results.text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        let types = field_types(&ctx.fields);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(results.delimiter)
            .has_headers(false)
            .from_reader(&results.text.as_bytes()[results.offset..]);
        let mut header = csv::StringRecord::new();
        if !reader.read_record(&mut header).map_err(invalid_csv)? {
            results.done = true;
            return Ok(results);
        }
        results.columns = header
            .iter()
            .map(|name| {
                (
                    name.split('.').map(str::to_owned).collect(),
                    types.get(name).cloned(),
                )
            })
            .collect();
        results.offset += position(&reader);
        Ok(results)
    }

    /// Reads and maps at most `max` more rows of `results`, handing each to `each` as it is
    /// mapped (the mapped record and the raw one, or why it could not be mapped), so no more
    /// than one row's raw record is held at a time. Returns the number of rows read; after the
    /// last row, `results` is done.
    ///
    /// # Errors
    /// A row that is not CSV (a ragged row, say), or an object without a list mapping.
    pub fn read_bulk_rows(
        &self,
        object: &str,
        ctx: &RequestContext,
        results: &mut BulkResults,
        max: usize,
        mut each: impl FnMut(Result<(Value, Value), RecordError>),
    ) -> Result<usize, ReadError> {
        if results.done {
            return Ok(0);
        }
        let mapping = self
            .operation(object, Operation::List)
            .map_err(|error| ReadError::Invalid(error.to_string()))?
            .record_mapping
            .as_ref()
            .ok_or_else(|| ReadError::Invalid("list has no record mapping".to_owned()))?;
        let vars = self.record_vars(ctx);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(results.delimiter)
            .has_headers(false)
            .flexible(false)
            .from_reader(&results.text.as_bytes()[results.offset..]);
        let mut row = csv::StringRecord::new();
        let mut read = 0;
        while read < max {
            if !reader.read_record(&mut row).map_err(invalid_csv)? {
                results.done = true;
                break;
            }
            if row.len() != results.columns.len() {
                return Err(ReadError::Invalid(format!(
                    "bulk results CSV: row {} has {} fields, the header {}",
                    results.index + 1,
                    row.len(),
                    results.columns.len()
                )));
            }
            let raw = typed_row(&results.columns, &row);
            let index = results.index;
            results.index += 1;
            read += 1;
            each(match mapping.evaluate(Some(&raw), &vars) {
                Ok(Some(mapped @ Value::Object(_))) => Ok((mapped, raw)),
                Ok(other) => Err(RecordError {
                    index,
                    remote_id: None,
                    code: RecordError::NOT_AN_OBJECT.to_owned(),
                    message: format!(
                        "record mapping gave {} instead of an object",
                        other.map_or("nothing".to_owned(), |value| value.to_string())
                    ),
                }),
                Err(error) => Err(RecordError {
                    index,
                    remote_id: None,
                    code: error.code.clone(),
                    message: error.to_string(),
                }),
            });
        }
        results.offset += position(&reader);
        if results.offset >= results.text.len() {
            results.done = true;
        }
        if results.done {
            // The text is no longer needed; the page's memory goes with it.
            results.text = String::new();
            results.offset = 0;
        }
        Ok(read)
    }
}

/// Bytes `reader` has consumed: where its next record starts.
fn position(reader: &csv::Reader<&[u8]>) -> usize {
    usize::try_from(reader.position().byte()).unwrap_or(usize::MAX)
}

fn invalid_csv(error: csv::Error) -> ReadError {
    ReadError::Invalid(format!("bulk results CSV: {error}"))
}

/// A CSV row as a raw record, each cell typed and placed at its column's path.
fn typed_row(columns: &[(Vec<String>, Option<String>)], row: &csv::StringRecord) -> Value {
    let mut record = Map::with_capacity(columns.len());
    for ((path, kind), cell) in columns.iter().zip(row.iter()) {
        insert_path(&mut record, path, typed_cell(cell, kind.as_deref()));
    }
    Value::Object(record)
}

/// The unified type of each discovered field, by the vendor's key (the results' column name).
fn field_types(fields: &Value) -> HashMap<String, String> {
    fields
        .get("all")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|field| {
            let key = field
                .get("vendor_key")
                .or_else(|| field.get("key"))?
                .as_str()?;
            let kind = field.get("type")?.as_str()?;
            Some((key.to_owned(), kind.to_owned()))
        })
        .collect()
}

/// A cell as a JSON value of its field's type: empty is null; a cell that does not read as its
/// type stays text rather than being lost.
fn typed_cell(cell: &str, kind: Option<&str>) -> Value {
    if cell.is_empty() {
        return Value::Null;
    }
    match kind {
        Some("integer") => cell
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| cell.parse::<f64>().map(number))
            .unwrap_or_else(|_| Value::String(cell.to_owned())),
        Some("number") => cell
            .parse::<f64>()
            .map(number)
            .unwrap_or_else(|_| Value::String(cell.to_owned())),
        Some("boolean") if cell.eq_ignore_ascii_case("true") => Value::Bool(true),
        Some("boolean") if cell.eq_ignore_ascii_case("false") => Value::Bool(false),
        _ => Value::String(cell.to_owned()),
    }
}

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// Parses CSV results (a header row, then one row per record) into raw records.
#[cfg(test)]
fn csv_records(
    text: &str,
    delimiter: u8,
    types: &HashMap<String, String>,
) -> Result<Vec<Value>, ReadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let columns: Vec<(Vec<String>, Option<String>)> = reader
        .headers()
        .map_err(invalid_csv)?
        .iter()
        .map(|name| {
            (
                name.split('.').map(str::to_owned).collect(),
                types.get(name).cloned(),
            )
        })
        .collect();
    let mut records = Vec::new();
    let mut row = csv::StringRecord::new();
    while reader.read_record(&mut row).map_err(invalid_csv)? {
        records.push(typed_row(&columns, &row));
    }
    Ok(records)
}

/// Sets `path` (`["Account", "Name"]`) in `record`, making the parents it needs; a parent whose
/// every field is null is null, as the vendor's JSON gives an empty lookup.
fn insert_path(record: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            record.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = record.entry(first.clone()).or_insert(Value::Null);
            if value.is_null() && !entry.is_object() {
                return;
            }
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(parent) = entry {
                insert_path(parent, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::csv_records;

    #[test]
    fn csv_rows_become_records_typed_from_the_fields() {
        let types: HashMap<String, String> = [
            ("NumberOfEmployees", "integer"),
            ("AnnualRevenue", "number"),
            ("IsDeleted", "boolean"),
            ("CreatedDate", "datetime"),
        ]
        .into_iter()
        .map(|(key, kind)| (key.to_owned(), kind.to_owned()))
        .collect();
        let text = "\u{feff}\"Id\",\"Name\",\"NumberOfEmployees\",\"AnnualRevenue\",\"IsDeleted\",\"CreatedDate\",\"Owner.Name\",\"Parent.Name\"\n\
                    \"001A\",\"Acme, \"\"Inc\"\"\",\"120\",\"2500000.5\",\"false\",\"2024-01-15T10:20:30.000Z\",\"Ann\",\"\"\n\
                    \"001B\",\"\",\"\",\"x\",\"true\",\"\",\"\",\"\"\n";
        let records = csv_records(text, b',', &types).expect("CSV reads");
        assert_eq!(
            records,
            [
                json!({"Id": "001A", "Name": "Acme, \"Inc\"", "NumberOfEmployees": 120,
                       "AnnualRevenue": 2500000.5, "IsDeleted": false,
                       "CreatedDate": "2024-01-15T10:20:30.000Z", "Owner": {"Name": "Ann"},
                       "Parent": null}),
                json!({"Id": "001B", "Name": null, "NumberOfEmployees": null,
                       "AnnualRevenue": "x", "IsDeleted": true, "CreatedDate": null,
                       "Owner": null, "Parent": null}),
            ]
        );
    }

    #[test]
    fn a_ragged_row_is_an_error_naming_csv() {
        let error = csv_records("\"Id\",\"Name\"\n\"1\"\n", b',', &HashMap::new())
            .expect_err("a short row");
        assert!(error.to_string().contains("bulk results CSV"), "{error}");
    }
}
