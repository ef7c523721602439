//! Bulk backfill benchmark (issue 16): a sync's first run of 1,000,000 Salesforce contacts
//! through the simulator's Bulk API 2.0, timed end to end, with the peak memory and the CPU
//! time of Crosswalk's side and of the simulator's, each in its own process.
//!
//! The bench runs itself a second time as a child process serving the Salesforce simulator
//! seeded with `--records` contacts (Bulk API jobs complete after `--job-ms`), so the
//! simulator's memory and CPU are not counted as Crosswalk's. In this process it starts the demo
//! (API on SQLite in a temporary folder, the test profile's tiny in-process Salesforce
//! simulator, which stays idle) with an operator override pointing the Salesforce connector at
//! the child, and the job worker the demo runs. It then starts a sync of the connection's
//! contacts through `POST /syncs` and polls `GET /syncs` until the run has stored every
//! record. The connector's own rate-limit buckets stay as declared (10 requests a second), so
//! the run is paced as it would be against the vendor.
//!
//! It prints the wall time, records per second, this process's CPU time (user + system, from
//! `/proc/self/stat`) per record and as a share of the wall time, its peak resident memory
//! (`VmHWM` in `/proc/self/status`) and the largest anonymous (heap) part of it seen while
//! polling (`RssAnon`, sampled every 500 ms; the rest is mostly the binary's own pages), the
//! same for the simulator's process, and the load average before and after. Linux only.
//!
//! `cargo bench -p cli --bench bulk_backfill -- [--records N] [--job-ms N] [--page-size N]`

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cli::demo::{self, DemoArgs};
use serde_json::{Value, json};
use simulators::salesforce::{Salesforce, SalesforceConfig};
use simulators::{Entry, Tweaks};

/// The allocator the `crosswalk` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    records: usize,
    job_ms: u64,
    /// Rows per page of results; the connector's default when absent.
    page_size: Option<u64>,
    serve_simulator: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        records: 1_000_000,
        job_ms: 2_000,
        page_size: None,
        serve_simulator: false,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || {
            given
                .next()
                .with_context(|| format!("`{flag}` needs a value"))
        };
        match flag.as_str() {
            "--records" => args.records = value()?.parse().context("--records")?,
            "--job-ms" => args.job_ms = value()?.parse().context("--job-ms")?,
            "--page-size" => args.page_size = Some(value()?.parse().context("--page-size")?),
            "--serve-simulator" => args.serve_simulator = true,
            "--bench" => {}
            other => anyhow::bail!(
                "unknown argument `{other}` (expected --records N, --job-ms N, --page-size N)"
            ),
        }
    }
    anyhow::ensure!(args.records > 0, "--records must be positive");
    Ok(args)
}

/// The child: the Salesforce simulator with `records` contacts, until standard input closes.
async fn serve_simulator(args: &Args) -> anyhow::Result<()> {
    let config = SalesforceConfig {
        contacts: args.records,
        accounts: 1_000,
        leads: 10,
        opportunities: 10,
        tasks: 10,
        events: 10,
        notes: 10,
        users: 5,
        daily_api_limit: 100_000_000,
        bulk_job_duration_ms: args.job_ms,
        ..SalesforceConfig::default()
    };
    let (running, _handle) =
        simulators::salesforce::spawn(config, "127.0.0.1:0".parse().expect("a literal address"))
            .await?;
    println!("listening {}", running.base_url);
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    })
    .await?;
    drop(running);
    Ok(())
}

/// A `/proc/<pid>/status` value in kB (`VmHWM`, `VmRSS`).
fn status_kb(pid: &str, key: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no `{key}` in /proc/{pid}/status"))
}

/// User and system CPU time of a process so far (`/proc/<pid>/stat`, clock ticks of 10 ms).
fn cpu_time(pid: &str) -> anyhow::Result<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it are space-separated.
    let after = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("a stat line")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are the 14th and 15th fields; `after` starts at the 3rd.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut builder = http.request(method, &url).bearer_auth(key);
    if let Some(body) = body {
        builder = builder.json(&body);
    }
    let response = builder.send().await.with_context(|| url.clone())?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| url.clone())?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    Ok(body)
}

/// Starts the child simulator; its base URL once it is seeded and listening.
fn start_simulator(args: &Args) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--serve-simulator",
            "--records",
            &args.records.to_string(),
            "--job-ms",
            &args.job_ms.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the simulator process")?;
    let stdout = child.stdout.take().context("the child's output")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening ")
        .with_context(|| format!("the simulator said `{line}`"))?
        .to_owned();
    Ok((child, url))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let seeding = Instant::now();
    let (mut child, simulator_url) = start_simulator(&args)?;
    let child_pid = child.id().to_string();
    eprintln!(
        "simulator seeded with {} contacts in {:.1} s at {simulator_url}",
        args.records,
        seeding.elapsed().as_secs_f64()
    );

    let data_dir = tempfile::tempdir()?;
    let demo_args = DemoArgs {
        listen: "127.0.0.1:0".parse().expect("a literal address parses"),
        data_dir: data_dir.path().to_path_buf(),
        api_key: None,
    };
    let mut salesforce = json!({"http": {
        "base_url": format!("{simulator_url}/services/data/{{{{vars.api_version}}}}"),
        "allowed_hosts": [simulator_url],
    }});
    if let Some(page_size) = args.page_size {
        salesforce["unified"] = json!({"crm.contacts": {"list": {"bulk": {"results": {
            "page_size": {"default": page_size, "max": page_size.max(10_000)}
        }}}}});
    }
    let options = demo::Options {
        registry: vec![Entry::of::<Salesforce>()],
        tweaks: Tweaks::default().with::<Salesforce>(|config| {
            config.contacts = 10;
            config.accounts = 5;
        }),
        connector_overrides: json!({ "salesforce": salesforce }),
        ..demo::Options::tests()
    };
    let demo = demo::start_with(&demo_args, options).await?;
    let worker = cli::startup::RunningWorker::spawn(
        &demo.state.operations,
        &cli::settings::WorkerConfig::default(),
        Duration::from_secs(5),
    );
    let api = format!("http://{}", demo.api_addr);
    let http = reqwest::Client::new();
    let key = demo.api_key.clone();
    let connection = demo.vendor("salesforce").connection_id.clone();

    let rss_before = status_kb("self", "VmRSS")?;
    let load_before = std::fs::read_to_string("/proc/loadavg")?;
    let mut anon_peak = status_kb("self", "RssAnon")?;
    let cpu_before = cpu_time("self")?;
    let child_cpu_before = cpu_time(&child_pid)?;
    let started = Instant::now();
    call(
        &http,
        reqwest::Method::POST,
        format!("{api}/syncs"),
        &key,
        Some(json!({"connection_id": connection, "object": "crm.contacts", "every_secs": 86_400})),
    )
    .await?;
    let mut last_report = Instant::now();
    let created = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let listed = call(
            &http,
            reqwest::Method::GET,
            format!("{api}/syncs?connection_id={connection}"),
            &key,
            None,
        )
        .await?;
        anon_peak = anon_peak.max(status_kb("self", "RssAnon")?);
        let sync = &listed["results"][0];
        let created = sync["progress"]["created"].as_u64().unwrap_or(0);
        let status = sync["status"].as_str().unwrap_or("");
        anyhow::ensure!(
            !matches!(status, "failed" | "cancelled"),
            "the sync ended {status}: {sync}"
        );
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "{:>6.1} s: {created} records stored, {} MB resident ({} MB anonymous)",
                started.elapsed().as_secs_f64(),
                status_kb("self", "VmRSS")? / 1024,
                status_kb("self", "RssAnon")? / 1024
            );
            last_report = Instant::now();
        }
        // Between runs a sync shows how its last run ended (`done`).
        if created >= args.records as u64 && matches!(status, "queued" | "done") {
            break created;
        }
    };
    let wall = started.elapsed();
    let cpu = cpu_time("self")? - cpu_before;
    let child_cpu = cpu_time(&child_pid)? - child_cpu_before;
    let peak = status_kb("self", "VmHWM")?;
    let load_after = std::fs::read_to_string("/proc/loadavg")?;
    let child_peak = status_kb(&child_pid, "VmHWM")?;
    worker.stop().await?;
    drop(child.stdin.take());
    child.wait()?;

    let per_second = created as f64 / wall.as_secs_f64();
    println!(
        "load average before: {} after: {}",
        load_before.trim(),
        load_after.trim()
    );
    println!(
        "| records | wall | records/s | Crosswalk CPU | CPU per record | CPU share of wall | Crosswalk peak RSS | peak anonymous | simulator CPU | simulator peak RSS |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {created} | {:.1} s | {per_second:.0} | {:.1} s | {:.1} µs | {:.0}% | {} MB (idle {} MB) | {} MB | {:.1} s | {} MB |",
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / created as f64,
        cpu.as_secs_f64() * 100.0 / wall.as_secs_f64(),
        peak / 1024,
        rss_before / 1024,
        anon_peak / 1024,
        child_cpu.as_secs_f64(),
        child_peak / 1024,
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.serve_simulator {
        runtime.block_on(serve_simulator(&args))
    } else {
        runtime.block_on(run(args))
    }
}
