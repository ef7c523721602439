//! Inbound webhook ack latency (issue 17): how long `POST /hooks/{token}` takes to verify a
//! vendor's delivery, write it to the inbox with its processing job, and answer, at a fixed rate.
//!
//! Starts the demo in this process on the HubSpot simulator alone (test profile, the API on
//! SQLite in a temporary folder), makes the connection's ingress with a client secret, and sends
//! HubSpot v3-signed deliveries (a one-event JSON array, signed at send time) open-loop at
//! `--rate` per second for `--seconds`, each from a task of its own started on schedule, so a
//! slow answer does not slow the sending. No worker runs: the figures are the ack alone. Prints
//! p50, p99 and max as a Markdown row, and how many answers were not 204.
//!
//! `cargo bench -p cli --bench webhook_ack -- [--rate N] [--seconds N] [--slowest N]`

use std::time::{Duration, Instant};

use anyhow::Context as _;
use cli::demo::{self, DemoArgs};
use serde_json::json;

/// The allocator the `crosswalk` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    rate: u64,
    seconds: u64,
    /// How many of the slowest acks to list with the time they were sent (0: none).
    slowest: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        rate: 500,
        seconds: 10,
        slowest: 0,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || {
            given
                .next()
                .with_context(|| format!("`{flag}` needs a value"))
        };
        match flag.as_str() {
            "--rate" => args.rate = value()?.parse().context("--rate")?,
            "--seconds" => args.seconds = value()?.parse().context("--seconds")?,
            "--slowest" => args.slowest = value()?.parse().context("--slowest")?,
            "--bench" => {}
            other => anyhow::bail!("unknown flag `{other}`"),
        }
    }
    Ok(args)
}

fn percentile(values: &[Duration], p: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run(args: Args) -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let demo_args = DemoArgs {
        listen: "127.0.0.1:0".parse().expect("a literal address parses"),
        data_dir: data_dir.path().to_path_buf(),
        api_key: None,
    };
    let options = demo::Options {
        registry: vec![simulators::Entry::of::<simulators::hubspot::HubSpot>()],
        ..demo::Options::tests()
    };
    let demo = demo::start_with(&demo_args, options).await?;
    let api = format!("http://{}", demo.api_addr);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let connection = demo.vendor("hubspot").connection_id.clone();
    let secret = "bench-app-client-secret";
    let created: serde_json::Value = http
        .post(format!("{api}/connections/{connection}/webhook-ingress"))
        .bearer_auth(&demo.api_key)
        .json(&json!({"secret": secret}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let url = created["url"]
        .as_str()
        .context("the ingress has a url")?
        .to_owned();
    let total = args.rate * args.seconds;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for idx in 0..total {
        tokio::time::sleep_until(start + interval * u32::try_from(idx).unwrap_or(u32::MAX)).await;
        let http = http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let now = chrono::Utc::now().timestamp_millis();
            let body = json!([{"eventId": idx, "subscriptionId": 1, "portalId": 62515,
                               "occurredAt": now, "subscriptionType": "contact.propertyChange",
                               "attemptNumber": 0, "objectId": 1 + idx % 100,
                               "changeSource": "CRM"}])
            .to_string();
            let signature =
                simulators::hubspot::sign_v3(secret, "POST", &url, body.as_bytes(), now);
            let sent = Instant::now();
            let offset = sent.duration_since(start.into_std());
            let answer = http
                .post(&url)
                .header("Content-Type", "application/json")
                .header("X-HubSpot-Signature-v3", signature)
                .header("X-HubSpot-Request-Timestamp", now.to_string())
                .body(body)
                .send()
                .await;
            let took = sent.elapsed();
            (
                offset,
                took,
                answer.map(|answer| answer.status().as_u16()).ok(),
            )
        }));
    }
    let mut times = Vec::with_capacity(tasks.len());
    let mut slow = Vec::new();
    let mut not_accepted = 0;
    for task in tasks {
        let (offset, took, status) = task.await?;
        if status != Some(204) {
            not_accepted += 1;
        }
        times.push(took);
        slow.push((offset, took));
    }
    let sending = start.elapsed();
    println!(
        "| rate /s | n | p50 ms | p99 ms | max ms | not 204 |\n| --- | --- | --- | --- | --- | --- |"
    );
    println!(
        "| {} | {} | {:.2} | {:.2} | {:.2} | {not_accepted} |",
        args.rate,
        times.len(),
        percentile(&times, 50.0),
        percentile(&times, 99.0),
        percentile(&times, 100.0)
    );
    println!("sent and answered in {:.2} s", sending.as_secs_f64());
    if args.slowest > 0 {
        // When the slowest acks were sent: stalls show as clusters (a checkpoint, a pause).
        slow.sort_by_key(|(_, took)| std::cmp::Reverse(*took));
        slow.truncate(args.slowest);
        slow.sort_by_key(|(offset, _)| *offset);
        println!("slowest acks (sent at s: took ms):");
        for (offset, took) in slow {
            println!(
                "  {:.3}: {:.1}",
                offset.as_secs_f64(),
                took.as_secs_f64() * 1000.0
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}
