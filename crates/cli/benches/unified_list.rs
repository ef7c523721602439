//! Unified list benchmark: how much latency Crosswalk adds to a page of 100 contacts over the
//! vendor call it makes for it.
//!
//! Starts the demo in this process (every registered simulator on loopback, on the test profile:
//! seeds of a few pages, rate limits lifted; the API on SQLite in a temporary folder, one
//! connection per simulator). For each vendor it warms the path up with unified calls, then
//! captures from the simulator's request log the vendor requests one `GET /unified/crm/contacts?connection_id=…&page_size=100` makes (method, path,
//! query and headers, credentials included), so the direct call is exactly what Crosswalk sends.
//! It then times, interleaved in one loop and alternating which goes first, (a) those vendor
//! requests sent straight to the simulator and (b) the unified call through Crosswalk, and prints
//! p50 and p99 of each and of the added latency (b − a, per iteration) as a Markdown table.
//!
//! `cargo bench -p cli --bench unified_list -- [--iterations N] [--warmup N] [--max-seconds N] [--vendors a,b]`
//! (`CROSSWALK_BENCH_LOG=debug` logs to standard error, which the figures then include).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use cli::demo::{self, DemoArgs};
use serde_json::Value;

#[path = "common/unpaced.rs"]
mod unpaced;
use simulators::{CapturedRequest, RequestLog};
use unpaced::unpaced_overrides;

/// The allocator the `crosswalk` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Records per unified page.
const PAGE_SIZE: usize = 100;

/// Headers the HTTP client sets itself for the replayed request (they describe the connection
/// or the body, not the call).
const CLIENT_HEADERS: &[&str] = &["host", "content-length", "connection", "transfer-encoding"];

#[derive(Debug, Clone)]
struct Args {
    iterations: usize,
    warmup: usize,
    max_seconds: u64,
    /// Connector ids to measure; empty for every simulated vendor.
    vendors: Vec<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        iterations: 300,
        warmup: 30,
        max_seconds: 120,
        vendors: Vec::new(),
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || {
            given
                .next()
                .with_context(|| format!("`{flag}` needs a value"))
        };
        match flag.as_str() {
            "--iterations" => args.iterations = value()?.parse().context("--iterations")?,
            "--warmup" => args.warmup = value()?.parse().context("--warmup")?,
            "--max-seconds" => args.max_seconds = value()?.parse().context("--max-seconds")?,
            "--vendors" => {
                args.vendors = value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|vendor| !vendor.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            other => anyhow::bail!(
                "unknown argument `{other}` (expected --iterations N, --warmup N, --max-seconds N, --vendors a,b)"
            ),
        }
    }
    anyhow::ensure!(args.iterations > 0, "--iterations must be positive");
    anyhow::ensure!(args.max_seconds > 0, "--max-seconds must be positive");
    Ok(args)
}

/// One simulated vendor as the bench sees it.
struct Target {
    provider: String,
    connection_id: String,
    simulator_url: String,
    log: RequestLog,
}

/// The running demo and what the bench measures in it.
struct Running {
    /// Kept alive for the whole run: dropping it stops the simulators and the API.
    _demo: demo::Demo,
    _data_dir: tempfile::TempDir,
    api_url: String,
    api_key: String,
    targets: Vec<Target>,
}

/// Starts the demo on loopback port 0: the only place the bench touches the demo's API.
async fn start_demo() -> anyhow::Result<Running> {
    let data_dir = tempfile::tempdir()?;
    let args = DemoArgs {
        listen: "127.0.0.1:0".parse().expect("a literal address parses"),
        data_dir: data_dir.path().to_path_buf(),
        api_key: None,
    };
    // The test profile: every registered simulator, seeds of a few pages, rate limits lifted.
    let options = demo::Options {
        connector_overrides: unpaced_overrides()?,
        ..demo::Options::tests()
    };
    let demo = demo::start_with(&args, options).await?;
    let targets = demo
        .vendors
        .iter()
        .map(|vendor| Target {
            provider: vendor.provider.clone(),
            connection_id: vendor.connection_id.clone(),
            simulator_url: vendor.simulator.simulator.base_url.clone(),
            log: vendor.simulator.requests().clone(),
        })
        .collect();
    Ok(Running {
        api_url: format!("http://{}", demo.api_addr),
        api_key: demo.api_key.clone(),
        _demo: demo,
        _data_dir: data_dir,
        targets,
    })
}

/// A request the bench sends and times, answered with a success or failing the run.
struct Call {
    request: reqwest::Request,
    what: String,
}

impl Call {
    /// Sends the request and reads the whole answer, returned as bytes.
    async fn send(&self, http: &reqwest::Client) -> anyhow::Result<Vec<u8>> {
        let request = self
            .request
            .try_clone()
            .context("a bodiless request clones")?;
        let response = http
            .execute(request)
            .await
            .with_context(|| format!("sending {}", self.what))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer to {}", self.what))?;
        anyhow::ensure!(
            status.is_success(),
            "{} answered {status}: {}",
            self.what,
            String::from_utf8_lossy(&body)
        );
        Ok(body.into())
    }
}

/// The direct vendor request replayed from a capture: same method, path, query and headers.
fn direct_call(
    http: &reqwest::Client,
    base_url: &str,
    captured: &CapturedRequest,
) -> anyhow::Result<Call> {
    let method: reqwest::Method = captured
        .method
        .parse()
        .with_context(|| format!("method `{}`", captured.method))?;
    anyhow::ensure!(
        !captured
            .headers
            .iter()
            .any(|(name, value)| name == "content-length" && value != "0"),
        "the unified list sent `{} {}` with a body, which the bench does not replay",
        captured.method,
        captured.path_and_query
    );
    let mut builder = http.request(method, format!("{base_url}{}", captured.path_and_query));
    for (name, value) in &captured.headers {
        if !CLIENT_HEADERS.contains(&name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    Ok(Call {
        request: builder.build()?,
        what: format!("{} {}", captured.method, captured.path_and_query),
    })
}

/// Sends every call in order and returns the time they took together.
async fn timed(http: &reqwest::Client, calls: &[Call]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for call in calls {
        call.send(http).await?;
    }
    Ok(started.elapsed())
}

/// What one vendor measured: per iteration, the direct and the unified times.
struct Measured {
    provider: String,
    /// The vendor requests one unified page made, as the direct side replays them.
    captured: Vec<CapturedRequest>,
    vendor_calls_per_page: usize,
    vendor_calls_in_loop: u64,
    direct: Vec<Duration>,
    unified: Vec<Duration>,
}

async fn measure(
    http: &reqwest::Client,
    running: &Running,
    target: &Target,
    args: &Args,
) -> anyhow::Result<Measured> {
    let unified = Call {
        request: http
            .get(format!(
                "{}/unified/crm/contacts?connection_id={}&page_size={PAGE_SIZE}",
                running.api_url, target.connection_id
            ))
            .bearer_auth(&running.api_key)
            .build()?,
        what: format!("the unified list of {}", target.provider),
    };
    // The first calls fill what Crosswalk caches (discovered fields, effective connector,
    // connections of both pools); the page must hold a full page of records.
    for _ in 0..args.warmup.max(1) {
        let body = unified.send(http).await?;
        let page: Value = serde_json::from_slice(&body).context("the unified page is JSON")?;
        let records = page["results"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(
            records == PAGE_SIZE,
            "the unified list of {} returned {records} records, not {PAGE_SIZE}",
            target.provider
        );
    }
    target.log.start_capture();
    let captured = unified.send(http).await;
    let captured_requests = target.log.stop_capture();
    captured?;
    anyhow::ensure!(
        !captured_requests.is_empty(),
        "the unified list of {} made no vendor request",
        target.provider
    );
    let direct: Vec<Call> = captured_requests
        .iter()
        .map(|request| direct_call(http, &target.simulator_url, request))
        .collect::<anyhow::Result<_>>()?;
    for _ in 0..args.warmup.max(1) {
        timed(http, &direct).await?;
    }

    let served_before: u64 = target.log.counts().values().sum();
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let mut direct_times = Vec::with_capacity(args.iterations);
    let mut unified_times = Vec::with_capacity(args.iterations);
    for iteration in 0..args.iterations {
        if Instant::now() >= deadline {
            eprintln!(
                "{}: stopped after {iteration} iterations (--max-seconds {})",
                target.provider, args.max_seconds
            );
            break;
        }
        // Alternating the order spreads any cost of going first or second over both sides.
        let (a, b) = if iteration % 2 == 0 {
            let a = timed(http, &direct).await?;
            (a, timed(http, std::slice::from_ref(&unified)).await?)
        } else {
            let b = timed(http, std::slice::from_ref(&unified)).await?;
            (timed(http, &direct).await?, b)
        };
        direct_times.push(a);
        unified_times.push(b);
    }
    let served_after: u64 = target.log.counts().values().sum();
    Ok(Measured {
        provider: target.provider.clone(),
        captured: captured_requests,
        vendor_calls_per_page: direct.len(),
        vendor_calls_in_loop: served_after - served_before,
        direct: direct_times,
        unified: unified_times,
    })
}

/// The nearest-rank percentile `p` (0–100) of `values`, which must not be empty.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(duration: &Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn report(rows: &[Measured]) {
    println!(
        "| vendor | vendor calls per page | iterations | direct p50 | direct p99 | unified p50 | unified p99 | added p50 | added p99 |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        if row.direct.is_empty() {
            println!(
                "| {} | {} | 0 | | | | | | |",
                row.provider, row.vendor_calls_per_page
            );
            continue;
        }
        let direct: Vec<f64> = row.direct.iter().map(millis).collect();
        let unified: Vec<f64> = row.unified.iter().map(millis).collect();
        let added: Vec<f64> = unified.iter().zip(&direct).map(|(b, a)| b - a).collect();
        println!(
            "| {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:+.2} ms | {:+.2} ms |",
            row.provider,
            row.vendor_calls_per_page,
            direct.len(),
            percentile(&direct, 50.0),
            percentile(&direct, 99.0),
            percentile(&unified, 50.0),
            percentile(&unified, 99.0),
            percentile(&added, 50.0),
            percentile(&added, 99.0),
        );
    }
    println!();
    println!("The direct side replays (headers by name; their values are Crosswalk's):");
    for row in rows {
        for request in &row.captured {
            let names: Vec<&str> = request
                .headers
                .iter()
                .map(|(name, _)| name.as_str())
                .collect();
            println!(
                "  {}: {} {} [{}]",
                row.provider,
                request.method,
                request.path_and_query,
                names.join(", ")
            );
        }
    }
    println!();
    println!(
        "Vendor requests the simulators served during the timed loops (direct and through Crosswalk):"
    );
    for row in rows {
        let expected = 2 * row.vendor_calls_per_page as u64 * row.direct.len() as u64;
        let note = if row.vendor_calls_in_loop == expected {
            "as captured".to_owned()
        } else {
            format!("expected {expected}: Crosswalk's calls per page varied")
        };
        println!("  {}: {} ({note})", row.provider, row.vendor_calls_in_loop);
    }
}

/// The load average over the last minute, as `/proc/loadavg` shows it (empty elsewhere).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

async fn run(args: Args) -> anyhow::Result<()> {
    let running = start_demo().await?;
    for wanted in &args.vendors {
        anyhow::ensure!(
            running
                .targets
                .iter()
                .any(|target| &target.provider == wanted),
            "the demo simulates no `{wanted}`"
        );
    }
    let http = reqwest::Client::builder().build()?;
    println!(
        "unified_list: pages of {PAGE_SIZE} contacts, {} iterations after {} warm-up calls per side, {} cores, load average {} at the start",
        args.iterations,
        args.warmup,
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average(),
    );
    println!();
    let mut rows = Vec::new();
    for target in &running.targets {
        if args.vendors.is_empty() || args.vendors.contains(&target.provider) {
            rows.push(measure(&http, &running, target, &args).await?);
        }
    }
    report(&rows);
    println!();
    println!("load average {} at the end", load_average());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    // Off unless asked for: logging every request would be part of what the bench times.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("CROSSWALK_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}
