//! Rate-limit benchmark: does Crosswalk spend each connection's HubSpot budget fully without
//! ever being throttled by the vendor?
//!
//! Starts the HubSpot simulator with one private-app token per connection (110 requests per
//! rolling 10 s each, 5 searches per second), overrides the connector's burst and search buckets
//! to the same sliding windows, and runs Crosswalk: one server in this process (`--processes 1`,
//! buckets in the process) or N `crosswalk serve` child processes on one SQLite file, sharing
//! their buckets in Redis (`--processes 3`, `CROSSWALK_TEST_REDIS_URL`). Every connection then
//! pages contacts through the unified API, one request at a time, round-robin over the servers,
//! for `--seconds`, with every tenth request a filtered (search) page of `--page-size` records.
//! At the end it prints, per connection, the vendor requests the simulator served and refused,
//! the unified requests answered and the 429s Crosswalk answered, against the most a rolling
//! window lets any client make in that time (see `docs/benchmarks.md`).
//!
//! `cargo bench -p cli --bench rate_limits -- [--seconds N] [--connections N] [--processes 1|3] [--page-size N]`

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cli::settings::{EncryptionSettings, Settings};
use cli::startup;
use serde_json::{Value, json};
use simulators::hubspot::{self, HubSpotConfig};
use store::{ApiKeyHash, ConnectionId, ConnectionStatus, NewConnection};

/// The allocator the `crosswalk` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The vendor's (and the overridden bucket's) rolling limit.
const PER_INTERVAL: u32 = 110;
const INTERVAL_MS: u64 = 10_000;
const SEARCH_PER_SECOND: u32 = 5;
/// Every this many requests of a connection, one is a filtered (search) page.
const SEARCH_EVERY: u64 = 10;
const REDIS_VARIABLE: &str = "CROSSWALK_TEST_REDIS_URL";
const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379";

#[derive(Debug, Clone, Copy)]
struct Args {
    seconds: u64,
    connections: usize,
    processes: usize,
    page_size: u32,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        seconds: 30,
        connections: 100,
        processes: 1,
        page_size: 100,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || {
            given
                .next()
                .with_context(|| format!("`{flag}` needs a value"))
        };
        match flag.as_str() {
            "--seconds" => args.seconds = value()?.parse().context("--seconds")?,
            "--connections" => args.connections = value()?.parse().context("--connections")?,
            "--processes" => args.processes = value()?.parse().context("--processes")?,
            "--page-size" => args.page_size = value()?.parse().context("--page-size")?,
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            other => anyhow::bail!(
                "unknown argument `{other}` (expected --seconds N, --connections N, --processes 1|3, --page-size N)"
            ),
        }
    }
    anyhow::ensure!(args.seconds > 0, "--seconds must be positive");
    anyhow::ensure!(args.connections > 0, "--connections must be positive");
    anyhow::ensure!(
        matches!(args.processes, 1 | 3),
        "--processes must be 1 or 3"
    );
    Ok(args)
}

/// The most requests a rolling window of `limit` per `interval` lets any schedule make in a
/// span of `span`: every `interval`-long slice of the span lies inside one window, so each
/// slice holds at most `limit`, and bursts of `limit` at the start of each slice reach it.
fn theoretical_budget(span: Duration, limit: u32, interval: Duration) -> u64 {
    let slices = span.as_nanos().div_ceil(interval.as_nanos());
    u64::try_from(slices).unwrap_or(u64::MAX) * u64::from(limit)
}

/// Per-connection counters of the client side.
#[derive(Debug, Default)]
struct ClientCounts {
    answered: AtomicU64,
    filtered: AtomicU64,
    throttled: AtomicU64,
    errors: AtomicU64,
}

/// Where and how one connection walks.
struct Walk {
    connection_id: String,
    /// Which server this connection starts with.
    offset: usize,
    page_size: u32,
    deadline: Instant,
}

/// One connection's walk through contacts: one request at a time, round-robin over servers.
async fn walk(
    http: reqwest::Client,
    servers: Arc<Vec<String>>,
    api_key: Arc<String>,
    plan: Walk,
    counts: Arc<ClientCounts>,
) {
    let Walk {
        connection_id,
        offset,
        page_size,
        deadline,
    } = plan;
    let mut cursor: Option<String> = None;
    let mut filtered_cursor: Option<String> = None;
    let mut sent = 0u64;
    while Instant::now() < deadline {
        let server = &servers[(offset + sent as usize) % servers.len()];
        sent += 1;
        let filtered = sent.is_multiple_of(SEARCH_EVERY);
        let mut url = format!(
            "{server}/unified/crm/contacts?connection_id={connection_id}&page_size={page_size}"
        );
        if filtered {
            url.push_str("&updated_after=2000-01-01T00:00:00Z");
        }
        if let Some(cursor) = if filtered { &filtered_cursor } else { &cursor } {
            url.push_str("&cursor=");
            url.push_str(cursor);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let answer =
            tokio::time::timeout(left, http.get(&url).bearer_auth(api_key.as_str()).send()).await;
        let Ok(answer) = answer else {
            return;
        };
        let response = match answer {
            Ok(response) => response,
            Err(error) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("request failed: {error}");
                continue;
            }
        };
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            counts.throttled.fetch_add(1, Ordering::Relaxed);
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        if !status.is_success() {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            let body = response.text().await.unwrap_or_default();
            eprintln!("unexpected {status}: {body}");
            continue;
        }
        let body: Value = match response.json().await {
            Ok(body) => body,
            Err(error) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("unreadable body: {error}");
                continue;
            }
        };
        counts.answered.fetch_add(1, Ordering::Relaxed);
        if filtered {
            counts.filtered.fetch_add(1, Ordering::Relaxed);
        }
        let next = body
            .get("next_cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if filtered {
            filtered_cursor = next;
        } else {
            cursor = next;
        }
    }
}

/// The connector override pointing HubSpot at the simulator, with the burst bucket at the
/// vendor's 110 per 10 s (arrays are replaced, so the search bucket is repeated).
fn hubspot_override(base_url: &str) -> Value {
    json!({
        "http": {"base_url": base_url, "allowed_hosts": [base_url]},
        "rate_limits": {"buckets": [
            {
                "id": "burst",
                "kind": "sliding_window",
                "capacity": PER_INTERVAL,
                "refill_every_ms": INTERVAL_MS,
            },
            {
                "id": "search",
                "kind": "sliding_window",
                "capacity": SEARCH_PER_SECOND,
                "refill_every_ms": 1000,
                "applies_to": [{"resource": "*", "method": "search"}],
            },
        ]},
    })
}

fn settings(data_dir: &std::path::Path, base_url: &str) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("a literal address parses"),
        data_dir: data_dir.to_path_buf(),
        database_url: String::new(),
        connectors_dir: String::new(),
        encryption: EncryptionSettings {
            current_key_id: "bench".to_owned(),
            keys: [("bench".to_owned(), secrets::generate_key())].into(),
        },
        connector_overrides: [("hubspot".to_owned(), hubspot_override(base_url))].into(),
        provider_timeout_secs: 30,
        public_url: None,
        redis_url: None,
        default_wait_budget_secs: 10,
        shutdown_grace_secs: 30,
        header_read_timeout_secs: 10,
        request_timeout_secs: 120,
        max_connections: 1024,
        worker: Default::default(),
        failed_auth_burst: 20,
        failed_auth_refill_secs: 3,
        mcp_watch_secs: server::DEFAULT_MCP_WATCH_SECS,
    }
}

/// The settings file of the `crosswalk serve` children: this run's data folder and key, Redis
/// for the buckets, and the same HubSpot override as the in-process server gets.
fn write_config(
    dir: &std::path::Path,
    settings: &Settings,
    redis_url: &str,
    base_url: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let quote = |text: &str| serde_json::to_string(text).expect("a string serialises");
    let key = settings
        .encryption
        .keys
        .get(&settings.encryption.current_key_id)
        .context("the current key")?;
    let bucket = |id: &str, capacity: u32, every_ms: u64, applies_to: &str| {
        format!(
            "[[connector_overrides.hubspot.rate_limits.buckets]]\nid = {}\nkind = \"sliding_window\"\ncapacity = {capacity}\nrefill_every_ms = {every_ms}\n{applies_to}\n",
            quote(id)
        )
    };
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {data_dir}\nredis_url = {redis}\ndefault_wait_budget_secs = {wait}\n\n\
         [encryption]\ncurrent_key_id = {key_id}\nkeys = {{ {key_id} = {key} }}\n\n\
         [connector_overrides.hubspot.http]\nbase_url = {base}\nallowed_hosts = [{base}]\n\n{burst}\n{search}",
        data_dir = quote(&settings.data_dir.display().to_string()),
        redis = quote(redis_url),
        wait = settings.default_wait_budget_secs,
        key_id = quote(&settings.encryption.current_key_id),
        key = quote(key),
        base = quote(base_url),
        burst = bucket("burst", PER_INTERVAL, INTERVAL_MS, ""),
        search = bucket(
            "search",
            SEARCH_PER_SECOND,
            1000,
            "applies_to = [{ resource = \"*\", method = \"search\" }]"
        ),
    );
    let path = dir.join("crosswalk.toml");
    std::fs::write(&path, text).context("writing the children's settings")?;
    Ok(path)
}

/// A `crosswalk serve` child process, killed when dropped. Its warnings and errors are
/// copied to this process's standard error.
struct ServeChild {
    _child: tokio::process::Child,
    addr: SocketAddr,
}

impl ServeChild {
    async fn start(config: &std::path::Path) -> anyhow::Result<ServeChild> {
        use tokio::io::AsyncBufReadExt as _;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_crosswalk"));
        command.arg("--config").arg(config).arg("serve");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CROSSWALK_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .env("CROSSWALK_LOG", "crosswalk=info,warn")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawning crosswalk serve")?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next_line()
                .await?
                .context("crosswalk serve exited before serving")?;
            if let Some(rest) = line.split("addr=").nth(1)
                && line.contains("crosswalk serving")
                && let Some(Ok(addr)) = rest.split_whitespace().next().map(str::parse)
            {
                break addr;
            }
            eprintln!("serve: {line}");
        };
        // Drained for the child's whole life: a full pipe would block it.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("serve {addr}: {line}");
            }
        });
        Ok(ServeChild {
            _child: child,
            addr,
        })
    }
}

struct Row {
    token: String,
    served: u64,
    vendor_429: u64,
    answered: u64,
    filtered: u64,
    ours_429: u64,
    errors: u64,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let tokens: Vec<String> = (0..args.connections)
        .map(|index| format!("pat-bench-{index:03}"))
        .collect();
    let config = HubSpotConfig {
        contacts: 2_000,
        companies: 200,
        deals: 200,
        notes: 50,
        tasks: 50,
        calls: 50,
        meetings: 50,
        emails: 50,
        leads: 50,
        access_tokens: tokens.clone(),
        rate_limit_per_interval: PER_INTERVAL,
        rate_limit_interval_ms: INTERVAL_MS,
        search_per_second: SEARCH_PER_SECOND,
        daily_limit: None,
        ..HubSpotConfig::default()
    };
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("a literal address parses");
    let (simulator, handle) = hubspot::spawn(config, loopback).await?;

    let data_dir = tempfile::tempdir()?;
    let settings = settings(data_dir.path(), &simulator.base_url);
    // The store (migrated here, before any server starts) and a state in this process: it seals
    // the connections' credentials, and with `--processes 1` it is the server.
    let store = startup::open_store(&settings).await?;
    let listener = startup::bind(settings.listen).await?;
    let public_url = startup::public_url(&settings, &listener)?;
    let state = startup::build_state(&settings, Arc::clone(&store), &public_url).await?;
    let mut servers = Vec::new();
    let mut running = Vec::new();
    let mut children = Vec::new();
    if args.processes == 1 {
        servers.push(format!("http://{}", listener.local_addr()?));
        running.push(startup::spawn_server(listener, state.clone())?);
    } else {
        drop(listener);
        // `crosswalk serve` children on the same SQLite file, sharing buckets in Redis.
        let redis_url = std::env::var(REDIS_VARIABLE)
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| DEFAULT_REDIS.to_owned());
        let config = write_config(data_dir.path(), &settings, &redis_url, &simulator.base_url)?;
        for _ in 0..args.processes {
            let child = ServeChild::start(&config).await?;
            servers.push(format!("http://{}", child.addr));
            children.push(child);
        }
    }

    let environment = store.create_environment("bench").await?;
    let api_key = store::generate_api_key();
    store
        .insert_api_key(
            &environment.id,
            &ApiKeyHash::of(&api_key),
            &store::api_key_prefix(&api_key),
        )
        .await?;
    let mut connections = Vec::new();
    for token in &tokens {
        let id = ConnectionId::generate();
        let credentials = state.keyring.seal_json(
            &json!({"private_app_token": token}),
            &server::credentials_aad(&id),
        );
        let connection = store
            .insert_connection(NewConnection {
                id,
                environment_id: environment.id.clone(),
                provider: "hubspot".to_owned(),
                status: ConnectionStatus::Active,
                account: json!({"auth_scheme": "private_app"}),
                credentials,
                credentials_expires_at: None,
            })
            .await?;
        connections.push(connection.id.to_string());
    }

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()?;
    let servers = Arc::new(servers);
    let api_key = Arc::new(api_key);
    let counts: Vec<Arc<ClientCounts>> = (0..args.connections)
        .map(|_| Arc::new(ClientCounts::default()))
        .collect();
    let span = Duration::from_secs(args.seconds);
    let started = Instant::now();
    let deadline = started + span;
    let walkers: Vec<_> = connections
        .iter()
        .enumerate()
        .map(|(index, connection)| {
            tokio::spawn(walk(
                http.clone(),
                Arc::clone(&servers),
                Arc::clone(&api_key),
                Walk {
                    connection_id: connection.clone(),
                    offset: index,
                    page_size: args.page_size,
                    deadline,
                },
                Arc::clone(&counts[index]),
            ))
        })
        .collect();
    // Once a second: vendor requests served so far, over all tokens and for the first one.
    let mut timeline = Vec::new();
    let first_token = tokens.first().cloned().unwrap_or_default();
    let mut tick = tokio::time::interval_at(
        (started + Duration::from_secs(1)).into(),
        Duration::from_secs(1),
    );
    while Instant::now() + Duration::from_secs(1) <= deadline {
        tick.tick().await;
        let now = handle.token_counts();
        let all: u64 = now.values().map(|counts| counts.allowed).sum();
        let first = now.get(&first_token).map_or(0, |counts| counts.allowed);
        timeline.push((all, first));
    }
    tokio::time::sleep_until(deadline.into()).await;
    // The vendor's counts at the end of the span: nothing sent later is counted.
    let vendor = handle.token_counts();
    let elapsed = started.elapsed();
    for walker in walkers {
        walker.abort();
    }

    let rows: Vec<Row> = tokens
        .iter()
        .zip(&counts)
        .map(|(token, client)| {
            let at_vendor = vendor.get(token).copied().unwrap_or_default();
            Row {
                token: token.clone(),
                served: at_vendor.allowed,
                vendor_429: at_vendor.throttled,
                answered: client.answered.load(Ordering::Relaxed),
                filtered: client.filtered.load(Ordering::Relaxed),
                ours_429: client.throttled.load(Ordering::Relaxed),
                errors: client.errors.load(Ordering::Relaxed),
            }
        })
        .collect();
    report(args, span, elapsed, &rows, &handle.requests().counts());
    println!();
    println!("vendor requests served per second (all tokens / {first_token}):");
    let mut previous = (0, 0);
    let line: Vec<String> = timeline
        .iter()
        .map(|&(all, first)| {
            let step = format!("{}/{}", all - previous.0, first - previous.1);
            previous = (all, first);
            step
        })
        .collect();
    println!("  {}", line.join(" "));
    for server in running {
        server.task.abort();
    }
    drop(children);
    simulator.shutdown();
    Ok(())
}

fn report(
    args: Args,
    span: Duration,
    elapsed: Duration,
    rows: &[Row],
    paths: &BTreeMap<String, u64>,
) {
    let budget = theoretical_budget(span, PER_INTERVAL, Duration::from_millis(INTERVAL_MS));
    let percent = |served: u64| 100.0 * served as f64 / budget as f64;
    println!(
        "rate_limits: {} connection(s), {} process(es), {} s (measured {:.2} s), pages of {}; budget per connection {budget} \
         ({PER_INTERVAL} per {} s rolling × ceil({} / {}))",
        args.connections,
        args.processes,
        args.seconds,
        elapsed.as_secs_f64(),
        args.page_size,
        INTERVAL_MS / 1000,
        args.seconds,
        INTERVAL_MS / 1000,
    );
    if args.connections <= 20 {
        println!(
            "| token | vendor served | vendor 429 | unified answered | of which filtered | unified 429 | errors | utilisation |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for row in rows {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {:.1}% |",
                row.token,
                row.served,
                row.vendor_429,
                row.answered,
                row.filtered,
                row.ours_429,
                row.errors,
                percent(row.served)
            );
        }
    }
    let sum = |field: fn(&Row) -> u64| rows.iter().map(field).sum::<u64>();
    let served = sum(|row| row.served);
    let total_budget = budget * rows.len() as u64;
    let min = rows.iter().map(|row| row.served).min().unwrap_or(0);
    let max = rows.iter().map(|row| row.served).max().unwrap_or(0);
    println!();
    println!("| measure | value |");
    println!("| --- | ---: |");
    println!("| vendor requests served | {served} |");
    println!("| theoretical budget | {total_budget} |");
    println!(
        "| utilisation, overall | {:.1}% |",
        100.0 * served as f64 / total_budget as f64
    );
    println!(
        "| utilisation, min connection | {:.1}% ({min} of {budget}) |",
        percent(min)
    );
    println!(
        "| utilisation, max connection | {:.1}% ({max} of {budget}) |",
        percent(max)
    );
    println!("| vendor 429s | {} |", sum(|row| row.vendor_429));
    println!(
        "| unified requests answered | {} |",
        sum(|row| row.answered)
    );
    println!(
        "| of which filtered (search) | {} |",
        sum(|row| row.filtered)
    );
    println!("| unified 429s (ours) | {} |", sum(|row| row.ours_429));
    println!("| other errors | {} |", sum(|row| row.errors));
    println!();
    println!("vendor requests by path (whole run, including after the span):");
    for (path, count) in paths {
        println!("  {path}: {count}");
    }
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}
