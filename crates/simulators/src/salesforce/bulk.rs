//! Bulk API 2.0 query jobs: create, status, results as CSV paged by `Sforce-Locator`, abort,
//! delete and the job list (`/services/data/vXX.X/jobs/query…`).
//!
//! A job's rows are fixed when it is created (the query is planned and run then), and it
//! reports `UploadComplete` in the create answer, `InProgress` until the configured processing
//! time has passed, then `JobComplete` (or `Failed`, when a failure was queued with
//! [`super::SalesforceHandle::fail_next_bulk_job`]). Results are served only from a complete
//! job and only with the API version that created it (409 otherwise), in sets of at most
//! `maxRecords` rows (the configured maximum when left out or larger). A locator is the base64
//! of the set's first row offset (Salesforce's own look: `MTAwMDA` is `10000`), stable while
//! the job exists, so a set can be fetched again; the last set answers the string `null`.
//! `queryAll` keeps deleted rows (`IsDeleted` true). Every call counts against the daily API
//! allowance like any REST call, and the jobs created count against `DailyBulkV2QueryJobs`.
//!
//! Choices where the documentation leaves room: SOQL the Bulk API refuses (`COUNT()`,
//! `OFFSET`) and a bad `operation`, delimiter or line ending answer 400 `INVALIDJOB`; the
//! SOQL errors the REST query answers (`MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`)
//! are answered the same way at creation; past the daily job allowance a create answers 400
//! `EXCEEDEDQUOTA`; an unknown locator answers 400 `INVALID_QUERY_LOCATOR`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Shared;
use super::error::ApiError;
use super::ids;
use super::query::{self, Plan, Shape};
use super::soql;
use super::store::{format_datetime, now};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            JobState::UploadComplete => "UploadComplete",
            JobState::InProgress => "InProgress",
            JobState::JobComplete => "JobComplete",
            JobState::Failed => "Failed",
            JobState::Aborted => "Aborted",
        }
    }

    /// The spelling of `JOB_NOT_COMPLETE` messages.
    fn shouted(self) -> &'static str {
        match self {
            JobState::UploadComplete => "UPLOAD_COMPLETE",
            JobState::InProgress => "IN_PROGRESS",
            JobState::JobComplete => "JOB_COMPLETE",
            JobState::Failed => "FAILED",
            JobState::Aborted => "ABORTED",
        }
    }
}

/// One query job.
pub(crate) struct QueryJob {
    id: String,
    operation: &'static str,
    object: String,
    /// `59.0`: results must be read with the version that created the job.
    api_version: String,
    created_at: DateTime<Utc>,
    started: Instant,
    aborted_at: Option<DateTime<Utc>>,
    /// Set when the job was queued to fail: its `errorMessage`.
    failure: Option<String>,
    plan: Arc<Plan>,
    rows: Arc<Vec<u32>>,
    delimiter: (&'static str, u8),
    line_ending: &'static str,
}

/// The jobs of the org and how they behave.
pub(crate) struct BulkJobs {
    jobs: HashMap<String, Arc<std::sync::Mutex<QueryJob>>>,
    order: Vec<String>,
    next: u64,
    /// Jobs created so far (the daily allowance counts them).
    pub(crate) created: u64,
    pub(crate) daily_limit: u64,
    /// How long a job takes from creation to `JobComplete`.
    pub(crate) processing: Duration,
    /// The most rows of one result set.
    pub(crate) max_records: usize,
    /// The `errorMessage` of the next job created, which then fails.
    pub(crate) fail_next: Option<String>,
}

impl BulkJobs {
    pub(crate) fn new(daily_limit: u64, processing: Duration, max_records: usize) -> BulkJobs {
        BulkJobs {
            jobs: HashMap::new(),
            order: Vec::new(),
            next: 0,
            created: 0,
            daily_limit,
            processing,
            max_records: max_records.max(1),
            fail_next: None,
        }
    }
}

impl QueryJob {
    fn state(&self, processing: Duration) -> JobState {
        if self.aborted_at.is_some() {
            JobState::Aborted
        } else if self.started.elapsed() < processing {
            JobState::InProgress
        } else if self.failure.is_some() {
            JobState::Failed
        } else {
            JobState::JobComplete
        }
    }

    /// The job as the create, abort and list answers show it.
    fn info(&self, state: JobState) -> Value {
        let modstamp = self.aborted_at.unwrap_or(self.created_at);
        json!({
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": ids::make_id("005", 1),
            "createdDate": format_datetime(self.created_at),
            "systemModstamp": format_datetime(modstamp),
            "state": state.as_str(),
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": self.api_version.parse::<f64>().unwrap_or(0.0),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter.0,
        })
    }

    /// The job as its status answer shows it: the info plus progress.
    fn status(&self, state: JobState) -> Value {
        let mut info = self.info(state);
        let processed = if state == JobState::JobComplete {
            self.rows.len()
        } else {
            0
        };
        if let Value::Object(map) = &mut info {
            map.insert("jobType".into(), json!("V2Query"));
            map.insert("numberRecordsProcessed".into(), json!(processed));
            map.insert("retries".into(), json!(0));
            map.insert(
                "totalProcessingTime".into(),
                json!(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)),
            );
            if state == JobState::Failed
                && let Some(message) = &self.failure
            {
                map.insert("errorMessage".into(), json!(message));
            }
        }
        info
    }
}

fn invalid_job(message: impl Into<String>) -> ApiError {
    ApiError::InvalidJob(message.into())
}

fn version_number(version: &str) -> String {
    version.trim_start_matches('v').to_owned()
}

fn job(shared: &Shared, id: &str) -> Result<Arc<std::sync::Mutex<QueryJob>>, ApiError> {
    shared
        .bulk
        .lock()
        .expect("bulk jobs poisoned")
        .jobs
        .get(id)
        .cloned()
        .ok_or(ApiError::NotFound)
}

/// `POST /jobs/query`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    Path(version): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::JsonParser(format!("Unexpected character in JSON: {error}")))?;
    let operation = match request.get("operation").and_then(Value::as_str) {
        Some("query") => "query",
        Some("queryAll") => "queryAll",
        other => {
            return Err(invalid_job(format!(
                "Invalid operation: {}; expected query or queryAll",
                other.unwrap_or("(none)")
            )));
        }
    };
    let text = request
        .get("query")
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| invalid_job("A query must be specified"))?;
    if let Some(content_type) = request.get("contentType").and_then(Value::as_str)
        && content_type != "CSV"
    {
        return Err(invalid_job(format!(
            "Invalid contentType: {content_type}; only CSV is supported"
        )));
    }
    let delimiter = match request.get("columnDelimiter").and_then(Value::as_str) {
        None | Some("COMMA") => ("COMMA", b','),
        Some("TAB") => ("TAB", b'\t'),
        Some("PIPE") => ("PIPE", b'|'),
        Some("SEMICOLON") => ("SEMICOLON", b';'),
        Some("CARET") => ("CARET", b'^'),
        Some("BACKQUOTE") => ("BACKQUOTE", b'`'),
        Some(other) => return Err(invalid_job(format!("Invalid columnDelimiter: {other}"))),
    };
    let line_ending = match request.get("lineEnding").and_then(Value::as_str) {
        None | Some("LF") => "LF",
        Some("CRLF") => "CRLF",
        Some(other) => return Err(invalid_job(format!("Invalid lineEnding: {other}"))),
    };
    let parsed = soql::parse(text).map_err(|error| {
        ApiError::MalformedQuery(query::located(text, error.position, &error.message))
    })?;
    if parsed.offset.is_some() {
        return Err(invalid_job(
            "OFFSET is not supported by Bulk API 2.0 queries",
        ));
    }
    let db = shared.read();
    let plan = query::plan(&db, &parsed, text)?;
    if plan.shape != Shape::Rows {
        return Err(invalid_job(
            "Aggregate functions such as COUNT() are not supported by Bulk API 2.0 queries",
        ));
    }
    let object = db.tables[plan.table].schema.name.to_owned();
    let rows = plan.run(&db, operation == "queryAll");
    drop(db);
    let mut jobs = shared.bulk.lock().expect("bulk jobs poisoned");
    if jobs.created >= jobs.daily_limit {
        return Err(ApiError::ExceededQuota);
    }
    jobs.created += 1;
    jobs.next += 1;
    let id = ids::make_id("750", jobs.next);
    let job = QueryJob {
        id: id.clone(),
        operation,
        object,
        api_version: version_number(&version),
        created_at: now(),
        started: Instant::now(),
        aborted_at: None,
        failure: jobs.fail_next.take(),
        plan: Arc::new(plan),
        rows: Arc::new(rows),
        delimiter,
        line_ending,
    };
    let info = job.info(JobState::UploadComplete);
    jobs.jobs
        .insert(id.clone(), Arc::new(std::sync::Mutex::new(job)));
    jobs.order.push(id);
    Ok((StatusCode::OK, Json(info)).into_response())
}

/// `GET /jobs/query`: every job, oldest first, in one page.
pub(crate) async fn list(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let jobs = shared.bulk.lock().expect("bulk jobs poisoned");
    let records: Vec<Value> = jobs
        .order
        .iter()
        .filter_map(|id| jobs.jobs.get(id))
        .map(|job| {
            let job = job.lock().expect("bulk job poisoned");
            let mut info = job.info(job.state(jobs.processing));
            if let Value::Object(map) = &mut info {
                map.insert("jobType".into(), json!("V2Query"));
            }
            info
        })
        .collect();
    Json(json!({ "done": true, "records": records, "nextRecordsUrl": null }))
}

/// `GET /jobs/query/{id}`.
pub(crate) async fn status(
    State(shared): State<Arc<Shared>>,
    Path((_version, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let processing = shared.bulk.lock().expect("bulk jobs poisoned").processing;
    let job = job(&shared, &id)?;
    let job = job.lock().expect("bulk job poisoned");
    Ok(Json(job.status(job.state(processing))))
}

/// `PATCH /jobs/query/{id}` with `{"state": "Aborted"}`.
pub(crate) async fn abort(
    State(shared): State<Arc<Shared>>,
    Path((_version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::JsonParser(format!("Unexpected character in JSON: {error}")))?;
    if request.get("state").and_then(Value::as_str) != Some("Aborted") {
        return Err(invalid_job(
            "Only the state Aborted can be set on a query job",
        ));
    }
    let processing = shared.bulk.lock().expect("bulk jobs poisoned").processing;
    let job = job(&shared, &id)?;
    let mut job = job.lock().expect("bulk job poisoned");
    let state = job.state(processing);
    if !matches!(state, JobState::UploadComplete | JobState::InProgress) {
        return Err(invalid_job(format!(
            "Job with state {} cannot be aborted",
            state.as_str()
        )));
    }
    job.aborted_at = Some(now());
    Ok(Json(job.info(JobState::Aborted)))
}

/// `DELETE /jobs/query/{id}`: the job and its results are gone.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    Path((_version, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let mut jobs = shared.bulk.lock().expect("bulk jobs poisoned");
    if jobs.jobs.remove(&id).is_none() {
        return Err(ApiError::NotFound);
    }
    jobs.order.retain(|each| each != &id);
    Ok(StatusCode::NO_CONTENT)
}

/// The offset a locator stands for.
fn decode_locator(locator: &str) -> Option<usize> {
    let bytes = STANDARD_NO_PAD.decode(locator.trim_end_matches('=')).ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

fn encode_locator(offset: usize) -> String {
    STANDARD_NO_PAD.encode(offset.to_string())
}

/// `GET /jobs/query/{id}/results?locator=…&maxRecords=…`: one set of rows as CSV.
pub(crate) async fn results(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    RawQuery(raw_query): RawQuery,
) -> Result<Response, ApiError> {
    let params: HashMap<String, String> = raw_query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let (processing, max_records) = {
        let jobs = shared.bulk.lock().expect("bulk jobs poisoned");
        (jobs.processing, jobs.max_records)
    };
    let job = job(&shared, &id)?;
    let (plan, rows, delimiter, line_ending) = {
        let job = job.lock().expect("bulk job poisoned");
        let state = job.state(processing);
        if state != JobState::JobComplete {
            return Err(ApiError::JobNotComplete(state.shouted()));
        }
        if job.api_version != version_number(&version) {
            return Err(ApiError::ApiVersionMismatch(job.api_version.clone()));
        }
        (
            Arc::clone(&job.plan),
            Arc::clone(&job.rows),
            job.delimiter.1,
            job.line_ending,
        )
    };
    let start = match params.get("locator").map(String::as_str) {
        None | Some("") => 0,
        Some(locator) => decode_locator(locator)
            .filter(|offset| *offset <= rows.len())
            .ok_or(ApiError::InvalidQueryLocator)?,
    };
    let wanted = match params.get("maxRecords") {
        None => max_records,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid_job("maxRecords must be a positive whole number"))?
            .min(max_records),
    };
    let end = (start + wanted).min(rows.len());
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(if line_ending == "CRLF" {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::with_capacity((end - start + 1) * 256));
    let written = (|| -> csv::Result<()> {
        writer.write_record(plan.csv_header())?;
        let db = shared.read();
        for &row in &rows[start..end] {
            let cells = plan.csv_cells(&db, row);
            writer.write_record(cells.iter().map(|cell| cell.as_deref().unwrap_or("")))?;
        }
        Ok(())
    })();
    written.map_err(|error| invalid_job(format!("results could not be written: {error}")))?;
    let body = writer
        .into_inner()
        .map_err(|error| invalid_job(format!("results could not be written: {error}")))?;
    let next = if end < rows.len() {
        encode_locator(end)
    } else {
        "null".to_owned()
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/csv; charset=UTF-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&next) {
        headers.insert("sforce-locator", value);
    }
    headers.insert("sforce-numberofrecords", HeaderValue::from(end - start));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::{decode_locator, encode_locator};

    #[test]
    fn locators_look_like_salesforce_ones_and_round_trip() {
        assert_eq!(encode_locator(10_000), "MTAwMDA");
        assert_eq!(decode_locator("MTAwMDA"), Some(10_000));
        assert_eq!(decode_locator("not a locator!"), None);
    }
}
