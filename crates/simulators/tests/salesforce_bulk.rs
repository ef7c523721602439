//! Black-box tests of the Salesforce simulator's Bulk API 2.0 query jobs over HTTP: creating a
//! job, its states, results as CSV paged by `Sforce-Locator` and `maxRecords`, `queryAll`,
//! abort and delete, the SOQL it refuses, and the limits it counts.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use simulators::RunningSimulator;
use simulators::salesforce::{SalesforceConfig, SalesforceHandle, spawn};

const TOKEN: &str = "salesforce-sim-token";
const API: &str = "/services/data/v59.0";

struct Sim {
    running: RunningSimulator,
    handle: SalesforceHandle,
    client: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

fn small(bulk_job_duration_ms: u64) -> SalesforceConfig {
    SalesforceConfig {
        accounts: 30,
        contacts: 230,
        leads: 20,
        opportunities: 20,
        tasks: 20,
        events: 10,
        notes: 10,
        users: 4,
        bulk_job_duration_ms,
        ..SalesforceConfig::default()
    }
}

async fn start(config: SalesforceConfig) -> Sim {
    let (running, handle) = spawn(config, "127.0.0.1:0".parse().expect("loopback address"))
        .await
        .expect("simulator binds");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("http client");
    Sim {
        running,
        handle,
        client,
    }
}

impl Sim {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let path = if path.starts_with("/services/") {
            path.to_owned()
        } else {
            format!("{API}{path}")
        };
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.running.base_url))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request is answered");
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body reads"),
        }
    }

    async fn create(&self, operation: &str, soql: &str) -> Answer {
        self.call(
            reqwest::Method::POST,
            "/jobs/query",
            Some(json!({"operation": operation, "query": soql})),
        )
        .await
    }

    /// Creates a job that must be accepted; returns its id.
    async fn job(&self, operation: &str, soql: &str) -> String {
        let answer = self.create(operation, soql).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json()["id"].as_str().expect("job id").to_owned()
    }

    /// Reads every result set of a complete job with `max_records` per set: the header and
    /// the rows, each as cells.
    async fn all_rows(&self, job: &str, max_records: usize) -> (Vec<String>, Vec<Vec<String>>) {
        let mut locator: Option<String> = None;
        let mut rows = Vec::new();
        loop {
            let path = match &locator {
                None => format!("/jobs/query/{job}/results?maxRecords={max_records}"),
                Some(locator) => {
                    format!("/jobs/query/{job}/results?locator={locator}&maxRecords={max_records}")
                }
            };
            let answer = self.call(reqwest::Method::GET, &path, None).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            let (set_header, set_rows) = parse_csv(&answer.text);
            assert_eq!(
                answer.header("sforce-numberofrecords"),
                Some(set_rows.len().to_string().as_str())
            );
            assert!(set_rows.len() <= max_records);
            rows.extend(set_rows);
            match answer.header("sforce-locator") {
                Some("null") => return (set_header, rows),
                Some(next) => locator = Some(next.to_owned()),
                None => panic!("every result set names the next locator or `null`"),
            }
        }
    }
}

fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            record
                .expect("a well-formed row")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    (header, rows)
}

#[tokio::test]
async fn a_query_job_serves_every_row_as_csv_in_sets_chained_by_locators() {
    let sim = start(small(0)).await;
    let soql = "SELECT Id, LastName, Email, IsDeleted, CreatedDate, Account.Name FROM Contact";
    let created = sim.create("query", soql).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let info = created.json();
    assert_eq!(info["state"], "UploadComplete");
    assert_eq!(info["operation"], "query");
    assert_eq!(info["object"], "Contact");
    assert_eq!(info["contentType"], "CSV");
    assert_eq!(info["apiVersion"], json!(59.0));
    assert_eq!(info["columnDelimiter"], "COMMA");
    assert_eq!(info["lineEnding"], "LF");
    let job = info["id"].as_str().expect("id").to_owned();
    assert!(job.starts_with("750"), "{job}");

    let status = sim
        .call(reqwest::Method::GET, &format!("/jobs/query/{job}"), None)
        .await
        .json();
    assert_eq!(status["state"], "JobComplete", "{status}");
    assert_eq!(status["jobType"], "V2Query");
    let live = sim.handle.ids("Contact");
    assert_eq!(status["numberRecordsProcessed"], json!(live.len()));

    let (header, rows) = sim.all_rows(&job, 100).await;
    assert_eq!(
        header,
        [
            "Id",
            "LastName",
            "Email",
            "IsDeleted",
            "CreatedDate",
            "Account.Name"
        ]
    );
    let ids: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(
        ids.iter().copied().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "each row once"
    );
    assert_eq!(
        ids.iter()
            .map(|id| (*id).to_owned())
            .collect::<BTreeSet<_>>(),
        live.into_iter().collect::<BTreeSet<_>>(),
        "exactly the live contacts"
    );
    for row in &rows {
        assert_eq!(row[3], "false", "booleans as text: {row:?}");
        assert!(
            row[4].len() == 24 && row[4].ends_with(".000Z"),
            "date-times in UTC with milliseconds: {row:?}"
        );
        let rest = sim.handle.record("Contact", &row[0]).expect("record");
        assert_eq!(
            row[2],
            rest["Email"].as_str().unwrap_or(""),
            "null and empty text are an empty cell"
        );
    }

    // A locator is stable: the same set comes back.
    let first = sim
        .call(
            reqwest::Method::GET,
            &format!("/jobs/query/{job}/results?maxRecords=100"),
            None,
        )
        .await;
    let locator = first.header("sforce-locator").expect("locator").to_owned();
    assert_eq!(locator, "MTAw", "the base64 of the next set's first row");
    let path = format!("/jobs/query/{job}/results?locator={locator}&maxRecords=100");
    let once = sim.call(reqwest::Method::GET, &path, None).await.text;
    let twice = sim.call(reqwest::Method::GET, &path, None).await.text;
    assert_eq!(once, twice);
    let bad = sim
        .call(
            reqwest::Method::GET,
            &format!("/jobs/query/{job}/results?locator=bm9wZQ"),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()[0]["errorCode"], "INVALID_QUERY_LOCATOR");

    // Results are read with the version that created the job.
    let other_version = sim
        .call(
            reqwest::Method::GET,
            &format!("/services/data/v58.0/jobs/query/{job}/results"),
            None,
        )
        .await;
    assert_eq!(
        other_version.status,
        StatusCode::CONFLICT,
        "{}",
        other_version.text
    );
}

#[tokio::test]
async fn query_all_includes_deleted_rows_and_query_does_not() {
    let sim = start(small(0)).await;
    let victim = sim.handle.ids("Contact")[3].clone();
    let deleted = sim
        .call(
            reqwest::Method::DELETE,
            &format!("/sobjects/Contact/{victim}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    let live_job = sim.job("query", "SELECT Id, IsDeleted FROM Contact").await;
    let (_, live_rows) = sim.all_rows(&live_job, 1_000).await;
    assert!(live_rows.iter().all(|row| row[0] != victim));

    let all_job = sim
        .job("queryAll", "SELECT Id, IsDeleted FROM Contact")
        .await;
    let (_, all_rows) = sim.all_rows(&all_job, 1_000).await;
    assert_eq!(all_rows.len(), live_rows.len() + 1);
    let row = all_rows
        .iter()
        .find(|row| row[0] == victim)
        .expect("the deleted contact");
    assert_eq!(row[1], "true");
}

#[tokio::test]
async fn a_job_in_progress_has_no_results_and_can_be_aborted_and_deleted() {
    let sim = start(small(3_600_000)).await;
    let job = sim.job("query", "SELECT Id FROM Contact").await;
    let status = sim
        .call(reqwest::Method::GET, &format!("/jobs/query/{job}"), None)
        .await
        .json();
    assert_eq!(status["state"], "InProgress");
    let early = sim
        .call(
            reqwest::Method::GET,
            &format!("/jobs/query/{job}/results"),
            None,
        )
        .await;
    assert_eq!(early.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(early.json()[0]["errorCode"], "JOB_NOT_COMPLETE");

    let aborted = sim
        .call(
            reqwest::Method::PATCH,
            &format!("/jobs/query/{job}"),
            Some(json!({"state": "Aborted"})),
        )
        .await;
    assert_eq!(aborted.status, StatusCode::OK, "{}", aborted.text);
    assert_eq!(aborted.json()["state"], "Aborted");
    let again = sim
        .call(
            reqwest::Method::PATCH,
            &format!("/jobs/query/{job}"),
            Some(json!({"state": "Aborted"})),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::BAD_REQUEST,
        "an aborted job stays so"
    );

    let listed = sim
        .call(reqwest::Method::GET, "/jobs/query", None)
        .await
        .json();
    assert_eq!(listed["records"][0]["id"], json!(job));
    assert_eq!(listed["records"][0]["state"], "Aborted");

    let deleted = sim
        .call(reqwest::Method::DELETE, &format!("/jobs/query/{job}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = sim
        .call(reqwest::Method::GET, &format!("/jobs/query/{job}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()[0]["errorCode"], "NOT_FOUND");
}

#[tokio::test]
async fn a_failed_job_says_why_and_has_no_results() {
    let sim = start(small(0)).await;
    sim.handle
        .fail_next_bulk_job("Query timed out: apply a filter criteria and try again");
    let job = sim.job("query", "SELECT Id FROM Contact").await;
    let status = sim
        .call(reqwest::Method::GET, &format!("/jobs/query/{job}"), None)
        .await
        .json();
    assert_eq!(status["state"], "Failed");
    assert_eq!(
        status["errorMessage"],
        "Query timed out: apply a filter criteria and try again"
    );
    let results = sim
        .call(
            reqwest::Method::GET,
            &format!("/jobs/query/{job}/results"),
            None,
        )
        .await;
    assert_eq!(results.status, StatusCode::PRECONDITION_FAILED);
    // Only the next job fails.
    let next = sim.job("query", "SELECT Id FROM Contact").await;
    let status = sim
        .call(reqwest::Method::GET, &format!("/jobs/query/{next}"), None)
        .await
        .json();
    assert_eq!(status["state"], "JobComplete");
}

#[tokio::test]
async fn soql_the_bulk_api_refuses_is_refused_at_creation() {
    let sim = start(small(0)).await;
    for (operation, soql, code) in [
        ("query", "SELECT COUNT() FROM Contact", "INVALIDJOB"),
        (
            "query",
            "SELECT Id FROM Contact LIMIT 5 OFFSET 5",
            "INVALIDJOB",
        ),
        ("query", "SELECT Nope__c FROM Contact", "INVALID_FIELD"),
        ("query", "SELECT Id FROM Widget__c", "INVALID_TYPE"),
        ("query", "SELECT Id FROM", "MALFORMED_QUERY"),
        ("upsert", "SELECT Id FROM Contact", "INVALIDJOB"),
    ] {
        let answer = sim.create(operation, soql).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{soql}: {}",
            answer.text
        );
        assert_eq!(
            answer.json()[0]["errorCode"],
            code,
            "{soql}: {}",
            answer.text
        );
    }
    assert_eq!(sim.handle.bulk_jobs_created(), 0);
}

#[tokio::test]
async fn bulk_calls_count_against_the_daily_allowances() {
    let sim = start(SalesforceConfig {
        daily_bulk_query_jobs: 1,
        ..small(0)
    })
    .await;
    let before = sim.handle.api_usage();
    let job = sim.job("query", "SELECT Id FROM Contact").await;
    let results = sim
        .call(
            reqwest::Method::GET,
            &format!("/jobs/query/{job}/results"),
            None,
        )
        .await;
    assert_eq!(results.status, StatusCode::OK);
    assert!(
        results
            .header("sforce-limit-info")
            .is_some_and(|info| info.starts_with("api-usage=")),
        "results carry the allowance like every call"
    );
    assert_eq!(sim.handle.api_usage(), before + 2);
    assert_eq!(
        results.header("content-type"),
        Some("text/csv; charset=UTF-8")
    );
    let limits = sim.call(reqwest::Method::GET, "/limits", None).await.json();
    assert_eq!(
        limits["DailyBulkV2QueryJobs"],
        json!({"Max": 1, "Remaining": 0})
    );
    let refused = sim.create("query", "SELECT Id FROM Contact").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()[0]["errorCode"], "EXCEEDEDQUOTA");
}
