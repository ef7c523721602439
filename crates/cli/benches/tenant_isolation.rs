//! Tenant isolation benchmark (issue 13): the latency of a second environment's requests while
//! a first environment runs six expensive list requests at once.
//!
//! Starts the demo in this process (every registered simulator on loopback, test profile, the
//! API on SQLite in a temporary folder). Environment A (the demo's) gets an override of its
//! HubSpot contacts' record mapping that runs every record to the default evaluation limits;
//! environment B is created beside it with its own HubSpot connection and the base mapping.
//! The bench times B's `GET /connections` and B's unified list of 100 contacts, first with A
//! idle, then while six tasks each send A's expensive list page in a loop, and prints p50, p99
//! and max of each as a Markdown table. Bounded by `--iterations` and `--max-seconds` per phase.
//!
//! Crosswalk's own rate-limit buckets are raised as in `unified_list`, so no request waits for
//! the vendor budget.
//!
//! `cargo bench -p cli --bench tenant_isolation -- [--iterations N] [--max-seconds N]`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cli::demo::{self, DemoArgs};
use serde_json::{Value, json};

#[path = "common/unpaced.rs"]
mod unpaced;
use unpaced::unpaced_overrides;

/// The allocator the `crosswalk` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A's record mapping: every record runs to the per-evaluation step limit (2,000,000) or time
/// limit (1 s), within the item cap, so each of A's pages spends its whole request budget.
const EXPENSIVE: &str = "{'title': $string($sum($map([1..9000], function($v) { $sum($map([1..200], function($w) { $w * $v })) })))}";

/// A's requests in flight at once.
const ABUSERS: usize = 6;

struct Args {
    iterations: usize,
    max_seconds: u64,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        iterations: 300,
        max_seconds: 60,
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
            "--max-seconds" => args.max_seconds = value()?.parse().context("--max-seconds")?,
            "--bench" => {}
            other => anyhow::bail!(
                "unknown argument `{other}` (expected --iterations N, --max-seconds N)"
            ),
        }
    }
    anyhow::ensure!(args.iterations > 0, "--iterations must be positive");
    anyhow::ensure!(args.max_seconds > 0, "--max-seconds must be positive");
    Ok(args)
}

/// Sends `request` and fails unless it succeeds; returns the parsed body.
async fn send(http: &reqwest::Client, request: &reqwest::Request) -> anyhow::Result<Value> {
    let request = request.try_clone().context("a bodiless request clones")?;
    let url = request.url().clone();
    let response = http
        .execute(request)
        .await
        .with_context(|| format!("{url}"))?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{url}"))?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    Ok(body)
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut builder = http.request(method, url).bearer_auth(key);
    if let Some(body) = body {
        builder = builder.json(&body);
    }
    send(http, &builder.build()?).await
}

/// B's two requests, timed one after the other, `iterations` times (or until the deadline).
async fn measure(
    http: &reqwest::Client,
    requests: &[reqwest::Request; 2],
    args: &Args,
) -> anyhow::Result<[Vec<Duration>; 2]> {
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..args.iterations {
        if Instant::now() >= deadline {
            eprintln!("stopped at --max-seconds {}", args.max_seconds);
            break;
        }
        for (request, times) in requests.iter().zip(times.iter_mut()) {
            let started = Instant::now();
            send(http, request).await?;
            times.push(started.elapsed());
        }
    }
    Ok(times)
}

fn percentile(values: &[Duration], p: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn row(phase: &str, what: &str, times: &[Duration]) {
    println!(
        "| {phase} | {what} | {} | {:.2} | {:.2} | {:.2} |",
        times.len(),
        percentile(times, 50.0),
        percentile(times, 99.0),
        percentile(times, 100.0)
    );
}

async fn run(args: Args) -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let demo_args = DemoArgs {
        listen: "127.0.0.1:0".parse().expect("a literal address parses"),
        data_dir: data_dir.path().to_path_buf(),
        api_key: None,
    };
    // Crosswalk's own pacing is lifted as in `unified_list`: the figures measure work, not
    // waits for HubSpot's budget.
    let options = demo::Options {
        connector_overrides: unpaced_overrides()?,
        ..demo::Options::tests()
    };
    let demo = demo::start_with(&demo_args, options).await?;
    let api = format!("http://{}", demo.api_addr);
    let http = reqwest::Client::new();
    let key_a = demo.api_key.clone();
    let connection_a = demo.vendor("hubspot").connection_id.clone();
    call(
        &http,
        reqwest::Method::PUT,
        format!("{api}/environment/overrides/hubspot"),
        &key_a,
        Some(json!({"unified": {"crm.contacts": {"list": {"record_mapping_merge": EXPENSIVE}}}})),
    )
    .await?;

    let tenant_b = demo.store.create_environment("tenant b").await?;
    let key_b = store::generate_api_key();
    demo.store
        .insert_api_key(
            &tenant_b.id,
            &store::ApiKeyHash::of(&key_b),
            &store::api_key_prefix(&key_b),
        )
        .await?;
    let created = call(
        &http,
        reqwest::Method::POST,
        format!("{api}/connections"),
        &key_b,
        Some(json!({"provider": "hubspot", "auth_scheme": "private_app", "fields": {"private_app_token": "hubspot-sim-token"}})),
    )
    .await?;
    let connection_b = created["id"]
        .as_str()
        .context("a connection id")?
        .to_owned();
    let requests = [
        http.get(format!("{api}/connections"))
            .bearer_auth(&key_b)
            .build()?,
        http.get(format!(
            "{api}/unified/crm/contacts?connection_id={connection_b}&page_size=100"
        ))
        .bearer_auth(&key_b)
        .build()?,
    ];
    // Warm-up: discovery, effective connectors, pools.
    for request in &requests {
        for _ in 0..10 {
            send(&http, request).await?;
        }
    }
    let a_page = http
        .get(format!(
            "{api}/unified/crm/contacts?connection_id={connection_a}&page_size=100"
        ))
        .bearer_auth(&key_a)
        .build()?;
    let page = send(&http, &a_page).await?;
    let errors = page["errors"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(errors > 0, "A's page should hit its limits: {page}");
    eprintln!(
        "A's page: {errors} item errors, first: {}",
        page["errors"][0]["detail"]
    );

    let idle = measure(&http, &requests, &args).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let a_pages = Arc::new(AtomicU64::new(0));
    let mut abusers = Vec::new();
    for _ in 0..ABUSERS {
        let (http, request, stop, a_pages) = (
            http.clone(),
            a_page.try_clone().context("clones")?,
            Arc::clone(&stop),
            Arc::clone(&a_pages),
        );
        abusers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                send(&http, &request).await?;
                a_pages.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    // Let every abuser have a request in flight before measuring.
    while demo
        .state
        .operations
        .evaluator()
        .in_flight(&demo_environment(&demo).await?)
        == 0
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let busy = measure(&http, &requests, &args).await?;
    let busy_for = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for abuser in abusers {
        abuser.await??;
    }

    println!(
        "| A's load | B's request | n | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- | --- |"
    );
    row("idle", "GET /connections", &idle[0]);
    row("idle", "unified list of 100", &idle[1]);
    row("6 expensive lists", "GET /connections", &busy[0]);
    row("6 expensive lists", "unified list of 100", &busy[1]);
    println!(
        "\nA completed {} expensive pages in {:.1} s while B was measured; evaluation pool of {} places, A's cap {}.",
        a_pages.load(Ordering::Relaxed),
        busy_for.as_secs_f64(),
        demo.state.operations.evaluator().pool_size(),
        demo.state
            .operations
            .evaluator()
            .cap_of(&Default::default()),
    );
    Ok(())
}

/// The demo's own environment (A).
async fn demo_environment(demo: &demo::Demo) -> anyhow::Result<store::EnvironmentId> {
    let connection = store::ConnectionId::parse(&demo.vendor("hubspot").connection_id)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(demo
        .store
        .get_connection_by_id(&connection)
        .await?
        .environment_id)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}
