//! The `crosswalk` binary: serve, migrate, connectors check, overrides check, map, demo,
//! environments, api-keys, keys and default-config.
//!
//! This file only parses arguments and dispatches; the work lives in the library modules.

mod map;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cli::settings::{self, Settings};
use cli::{demo, startup};

/// glibc's allocator spends a third of a busy server's CPU in malloc and free across threads
/// (measured with the rate-limit bench, docs/benchmarks.md); mimalloc's per-thread heaps do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Crosswalk: one self-hosted API for every CRM and HRIS.
#[derive(Debug, Parser)]
#[command(name = "crosswalk", version, about)]
struct Cli {
    /// Settings file (TOML); `CROSSWALK_*` environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the API.
    Serve,
    /// Applies database migrations and exits.
    Migrate,
    /// Connector files.
    Connectors {
        #[command(subcommand)]
        command: ConnectorsCommand,
    },
    /// Evaluates a JSONata expression on JSON read from standard input, as connectors do.
    Map(map::MapArgs),
    /// Runs the product on SQLite against local vendor simulators and prints working curl commands.
    Demo(demo::DemoArgs),
    /// Environments (one per customer of Crosswalk).
    Environments {
        #[command(subcommand)]
        command: EnvironmentsCommand,
    },
    /// Prints a commented settings file with a fresh encryption key.
    DefaultConfig,
    /// Stored connector overrides of environments and connections.
    Overrides {
        #[command(subcommand)]
        command: OverridesCommand,
    },
    /// API keys of an environment: create, list, revoke, rotate.
    ApiKeys {
        #[command(subcommand)]
        command: ApiKeysCommand,
    },
    /// Encryption keys of credentials at rest.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Runs one connection's sync now and shows its progress until the run ends.
    Sync(cli::sync::SyncArgs),
    /// Runs background jobs: refreshes OAuth tokens ahead of expiry for idle connections.
    Work {
        /// Seconds between two passes.
        #[arg(long, default_value_t = 60)]
        interval_secs: u64,
        /// Refresh tokens expiring within this many seconds.
        #[arg(long, default_value_t = 900)]
        window_secs: u64,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Prints a new random key (base64 of 32 bytes) to add to `encryption.keys`.
    Generate,
    /// Re-seals every stored credential and OAuth client secret under the current key.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum ApiKeysCommand {
    /// Creates a key and prints it once (only its hash is stored).
    Create {
        /// The environment's id (`env_…`).
        #[arg(long)]
        environment: String,
        /// A label to recognise the key by.
        #[arg(long)]
        name: Option<String>,
        /// Days until the key stops working (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Scope the key to this connection (`conn_…`; repeat for several; default: every
        /// connection of the environment).
        #[arg(long = "connection")]
        connections: Vec<String>,
        /// The key may only read.
        #[arg(long)]
        read_only: bool,
        /// The key may delete records and connections (off unless given).
        #[arg(long)]
        deletes: bool,
    },
    /// Lists an environment's keys (revoked and expired ones too) without the keys themselves.
    List {
        #[arg(long)]
        environment: String,
    },
    /// Revokes a key for good (never the environment's last usable key).
    Revoke {
        #[arg(long)]
        environment: String,
        /// The key's id (`key_…`, from `list`).
        id: String,
    },
    /// Creates a new key and lets the old one work until the overlap ends.
    Rotate {
        #[arg(long)]
        environment: String,
        /// The key's id (`key_…`, from `list`).
        id: String,
        /// Hours the old key keeps working (0 ends it now).
        #[arg(long, default_value_t = 24)]
        overlap_hours: u32,
    },
}

#[derive(Debug, Subcommand)]
enum ConnectorsCommand {
    /// Validates every connector file and reports each error with its file and path.
    Check {
        /// Folder of connector files (default: `connectors`, else the embedded ones).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Prints the JSON Schema of connector files, for editors.
    Schema,
}

#[derive(Debug, Subcommand)]
enum OverridesCommand {
    /// Re-validates every stored override against the connectors (after an upgrade or a change
    /// of `connector_overrides`); exits non-zero when some no longer apply.
    Check,
}

#[derive(Debug, Subcommand)]
enum EnvironmentsCommand {
    /// Creates an environment and prints its first API key.
    Create {
        #[arg(long)]
        name: String,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CROSSWALK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn check_connectors(dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let dir = dir
        .or_else(|| {
            let default = PathBuf::from("connectors");
            default.is_dir().then_some(default)
        })
        .map(|dir| dir.display().to_string())
        .unwrap_or_default();
    let (connectors, errors) = startup::load_connectors(&dir, &serde_json::Value::Null)?;
    for connector in &connectors {
        println!("ok    {} ({})", connector.id(), connector.source());
    }
    for error in &errors {
        eprintln!("error {error}");
    }
    println!(
        "{} connectors valid, {} invalid",
        connectors.len(),
        errors.len()
    );
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check_overrides(settings: &Settings) -> anyhow::Result<ExitCode> {
    let check = runtime()?.block_on(startup::check_overrides(settings))?;
    for invalid in &check.invalid {
        let connection = invalid
            .scope
            .connection_id
            .as_ref()
            .map_or("-", |id| id.as_str());
        eprintln!(
            "invalid environment {} connection {connection} provider {} version {} (saved against revision `{}`, connector revision `{}`): {}",
            invalid.scope.environment_id,
            invalid.scope.provider,
            invalid.version,
            invalid.revision,
            invalid.connector_revision,
            invalid.error()
        );
    }
    println!(
        "{} overrides checked, {} no longer apply",
        check.checked,
        check.invalid.len()
    );
    Ok(if check.invalid.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Map(args) => map::run(
            &args,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
        Command::Connectors {
            command: ConnectorsCommand::Check { dir },
        } => check_connectors(dir),
        Command::Connectors {
            command: ConnectorsCommand::Schema,
        } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&connector::connector_file_schema())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiKeys { command } => {
            let settings = Settings::load(cli.config.as_deref())?;
            runtime()?.block_on(api_keys_command(&settings, command))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::Generate,
        } => {
            println!("{}", secrets::generate_key());
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            init_tracing();
            let settings = Settings::load(cli.config.as_deref())?;
            let keyring = settings.keyring()?;
            let report = runtime()?.block_on(async {
                let store = startup::open_store(&settings).await?;
                cli::keys::rotate(store.as_ref(), &keyring).await
            })?;
            println!(
                "re-sealed {} connections and {} OAuth apps under key `{}` ({} already current)",
                report.connections_resealed,
                report.oauth_apps_resealed,
                keyring.current_key_id(),
                report.already_current
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Work {
            interval_secs,
            window_secs,
        } => {
            init_tracing();
            let settings = Settings::load(cli.config.as_deref())?;
            runtime()?.block_on(async {
                let store = startup::open_store(&settings).await?;
                // The worker shares the API's call path (operations and its sender) without
                // any of the API's state.
                let core = startup::build_core(&settings, store).await?;
                startup::revalidate_with(&core.operations).await?;
                let operations = core.operations;
                let grace = std::time::Duration::from_secs(settings.shutdown_grace_secs);
                let jobs = startup::RunningWorker::spawn_with_webhooks(
                    &operations,
                    &settings.worker,
                    grace,
                    Some(std::sync::Arc::clone(&core.keyring)),
                );
                tracing::info!(interval_secs, window_secs, "crosswalk worker running");
                let mut ticker = tokio::time::interval(std::time::Duration::from_secs(interval_secs.max(1)));
                let stop = startup::stop_signal();
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        () = &mut stop => break,
                    }
                    // A pass stopped by the signal leaves its refreshes running on their own;
                    // the drain below waits for them.
                    let pass = operations.refresh_expiring(std::time::Duration::from_secs(window_secs), 500);
                    tokio::select! {
                        result = pass => match result {
                            Ok(count) if count > 0 => tracing::info!(refreshed = count, "tokens refreshed ahead of expiry"),
                            Ok(_) => {}
                            Err(error) => tracing::warn!(error = %error, "ahead-of-expiry refresh pass failed"),
                        },
                        () = &mut stop => break,
                    }
                }
                tracing::info!("stopping: finishing the jobs and token refreshes in flight");
                jobs.stop().await?;
                startup::drain(&operations, tokio::time::Instant::now() + grace).await;
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Overrides {
            command: OverridesCommand::Check,
        } => {
            init_tracing();
            let settings = Settings::load(cli.config.as_deref())?;
            check_overrides(&settings)
        }
        Command::DefaultConfig => {
            print!("{}", settings::default_config());
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync(args) => {
            // Only warnings: the progress line is the output.
            let filter = tracing_subscriber::EnvFilter::try_from_env("CROSSWALK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .try_init();
            let settings = Settings::load(cli.config.as_deref())?;
            let end = runtime()?.block_on(async {
                let store = startup::open_store(&settings).await?;
                let core = startup::build_core(&settings, store).await?;
                let grace = std::time::Duration::from_secs(settings.shutdown_grace_secs);
                let bar = indicatif::ProgressBar::new_spinner();
                cli::sync::run(&core.operations, &args, &bar, &settings.worker, grace).await
            })?;
            let (line, succeeded) = cli::sync::summary(&end);
            println!("{line}");
            Ok(if succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Demo(args) => {
            init_tracing();
            runtime()?.block_on(demo::run(&args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            init_tracing();
            let settings = Settings::load(cli.config.as_deref())?;
            runtime()?.block_on(startup::open_store(&settings))?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Environments {
            command: EnvironmentsCommand::Create { name },
        } => {
            let settings = Settings::load(cli.config.as_deref())?;
            runtime()?.block_on(async {
                let store = startup::open_store(&settings).await?;
                let environment = store.create_environment(&name).await?;
                let key = store::generate_api_key();
                store
                    .insert_api_key(&environment.id, &store::ApiKeyHash::of(&key), &store::api_key_prefix(&key))
                    .await?;
                println!("environment {} ({name})\napi key {key}\n(the key is shown once; only its hash is stored)", environment.id);
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            init_tracing();
            let settings = Settings::load(cli.config.as_deref())?;
            runtime()?.block_on(async {
                let store = startup::open_store(&settings).await?;
                let listener = startup::bind(settings.listen).await?;
                let public_url = startup::public_url(&settings, &listener)?;
                let state = startup::build_state(&settings, store, &public_url).await?;
                let grace = std::time::Duration::from_secs(settings.shutdown_grace_secs);
                let worker = startup::RunningWorker::spawn_with_webhooks(
                    &state.operations,
                    &settings.worker,
                    grace,
                    Some(std::sync::Arc::clone(&state.keyring)),
                );
                let mut server = startup::spawn_server_with(
                    listener,
                    state,
                    startup::ServerLimits::of(&settings),
                )?;
                tracing::info!(addr = %server.addr, "crosswalk serving");
                tokio::select! {
                    result = &mut server.task => { result??; }
                    () = startup::stop_signal() => {
                        tracing::info!("stopping: finishing the requests and jobs in flight");
                        worker.stop().await?;
                        server.shutdown(grace).await?;
                        tracing::info!("stopped");
                    }
                }
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn api_keys_command(settings: &Settings, command: ApiKeysCommand) -> anyhow::Result<()> {
    use cli::api_keys;
    let store = startup::open_store(settings).await?;
    let now = store::timestamp::now();
    match command {
        ApiKeysCommand::Create {
            environment,
            name,
            expires_in_days,
            connections,
            read_only,
            deletes,
        } => {
            let lifetime = expires_in_days.map(|days| chrono::Duration::days(i64::from(days)));
            let permissions = api_keys::permissions(&connections, read_only, deletes)?;
            let (key, created) =
                api_keys::create(store.as_ref(), &environment, name, lifetime, permissions).await?;
            println!("{}", api_keys::describe(&created, now));
            println!("api key {key}\n(the key is shown once; only its hash is stored)");
        }
        ApiKeysCommand::List { environment } => {
            for key in api_keys::list(store.as_ref(), &environment).await? {
                println!("{}", api_keys::describe(&key, now));
            }
        }
        ApiKeysCommand::Revoke { environment, id } => {
            let revoked = api_keys::revoke(store.as_ref(), &environment, &id).await?;
            println!("{}", api_keys::describe(&revoked, now));
        }
        ApiKeysCommand::Rotate {
            environment,
            id,
            overlap_hours,
        } => {
            let overlap = chrono::Duration::hours(i64::from(overlap_hours));
            let (key, old, created) =
                api_keys::rotate(store.as_ref(), &environment, &id, overlap).await?;
            println!("{}", api_keys::describe(&old, now));
            println!("{}", api_keys::describe(&created, now));
            println!(
                "api key {key}\n(the key is shown once; only its hash is stored; the old key works until its expiry above)"
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
