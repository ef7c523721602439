//! `crosswalk demo`: the product on its embedded default, against local simulators.
//!
//! Starts every simulator of the registry (`simulators::REGISTRY`) on loopback, the API on
//! SQLite in the data directory, creates a demo environment with an API key and one connection
//! per simulator (as its `connectors/<vendor>/simulator.yaml` says), and prints curl commands
//! that work. No vendor is named here: a vendor added to the registry is in the demo.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::{Value, json};
use simulators::{Entry, Profile, Started, Tweaks, Wiring};
use store::{ApiKeyHash, ConnectionId, ConnectionStatus, EnvironmentId, NewConnection, Store};

use crate::settings::{EncryptionSettings, Settings};
use crate::startup;

/// Arguments of `crosswalk demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Address the API listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Folder of the demo's database and key (its previous demo database is replaced).
    #[arg(long, default_value = ".crosswalk-demo")]
    pub data_dir: PathBuf,
    /// API key of the demo environment (printed when generated); at least 32 printable
    /// characters, 12 of them different.
    #[arg(long)]
    pub api_key: Option<String>,
}

/// What the demo starts: which simulators, how big, against which connector files.
#[derive(Debug, Clone)]
pub struct Options {
    /// The simulators to start and connect, in order (all of [`simulators::REGISTRY`] by
    /// default; tests start one, or register one more).
    pub registry: Vec<Entry>,
    /// Vendor-sized data for the demo, small seeds without rate limits for tests.
    pub profile: Profile,
    /// Changes to simulators' settings beyond their profile.
    pub tweaks: Tweaks,
    /// Operator overrides (keyed by connector id, as in the `connector_overrides` setting)
    /// deep-merged over the ones pointing the connectors at the simulators: tests point a
    /// connector at another server this way. In their strings `{url}`, `{origin}` and
    /// `{token}` stand for the vendor's simulator, as in its `simulator.yaml`.
    pub connector_overrides: Value,
    /// A folder of connector files to load instead of the embedded ones.
    pub connectors_dir: Option<PathBuf>,
    /// How long a vendor call may take before it counts as timed out (30 s when absent):
    /// tests that inject slow answers shorten it.
    pub provider_timeout_secs: Option<u64>,
    /// Failed authentications an address may make at once (the server's default when
    /// `None`): a contract fuzzer sending many unauthenticated calls from one address raises it.
    pub failed_auth_burst: Option<u32>,
    /// How often open MCP sessions' tools are checked for changes, in seconds (the server's
    /// default when `None`): the MCP tests shorten it.
    pub mcp_watch_secs: Option<u64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            registry: simulators::REGISTRY.to_vec(),
            profile: Profile::Demo,
            tweaks: Tweaks::default(),
            connector_overrides: Value::Null,
            connectors_dir: None,
            provider_timeout_secs: None,
            failed_auth_burst: None,
            mcp_watch_secs: None,
        }
    }
}

impl Options {
    /// Every simulator on small seeds with rate limits lifted, as tests want them.
    pub fn tests() -> Options {
        Options {
            profile: Profile::Test,
            ..Options::default()
        }
    }
}

/// One simulated vendor of the demo and the connection made to it.
#[derive(Debug)]
pub struct SimulatedVendor {
    /// The connector id (`hubspot`).
    pub provider: String,
    /// The running simulator and its controls.
    pub simulator: Started,
    /// Its `simulator.yaml`, placeholders filled in.
    pub wiring: Wiring,
    pub connection_id: String,
}

/// What a started demo exposes (used by tests).
pub struct Demo {
    pub api_addr: SocketAddr,
    pub api_key: String,
    /// The simulated vendors, in the order they were connected.
    pub vendors: Vec<SimulatedVendor>,
    /// The store the API runs on.
    pub store: Arc<dyn Store>,
    /// The settings the demo runs with (its encryption key, the simulator overrides).
    pub settings: Settings,
    /// The API's state (tests drive background jobs through it).
    pub state: server::AppState,
    pub server: startup::RunningServer,
}

impl Demo {
    /// The simulated vendor of `provider`.
    ///
    /// # Panics
    /// Panics when the demo has no such vendor, a mistake in the caller.
    pub fn vendor(&self, provider: &str) -> &SimulatedVendor {
        self.vendors
            .iter()
            .find(|vendor| vendor.provider == provider)
            .unwrap_or_else(|| panic!("the demo simulates no `{provider}`"))
    }
}

fn demo_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("demo-encryption-key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().to_owned());
    }
    let key = secrets::generate_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    // The key opens every credential of the demo's database: its owner alone may read it.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating `{}`", path.display()))?;
    std::io::Write::write_all(&mut file, key.as_bytes())
        .with_context(|| format!("writing `{}`", path.display()))?;
    Ok(key)
}

async fn connect(
    store: &Arc<dyn Store>,
    keyring: &secrets::Keyring,
    environment_id: &EnvironmentId,
    provider: &str,
    account: Value,
    secrets: Value,
) -> anyhow::Result<ConnectionId> {
    let id = ConnectionId::generate();
    let credentials = keyring.seal_json(&secrets, &server::credentials_aad(&id));
    let connection = store
        .insert_connection(NewConnection {
            id,
            environment_id: environment_id.clone(),
            provider: provider.to_owned(),
            status: ConnectionStatus::Active,
            account,
            credentials,
            credentials_expires_at: None,
        })
        .await?;
    Ok(connection.id)
}

/// Starts the demo and returns once the API serves.
///
/// # Errors
/// Fails when a port cannot be bound or the data directory is not writable.
pub async fn start(args: &DemoArgs) -> anyhow::Result<Demo> {
    start_with(args, Options::default()).await
}

/// Starts the demo with the simulators and settings of `options`.
///
/// # Errors
/// As [`start`], and when a simulator's `simulator.yaml` does not parse.
pub async fn start_with(args: &DemoArgs, options: Options) -> anyhow::Result<Demo> {
    // Checked before anything starts; the error never repeats the key.
    if let Some(key) = &args.api_key {
        crate::api_keys::check_key_strength(key)
            .map_err(|error| anyhow::anyhow!("--api-key: {error}"))?;
    }
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder
        .create(&args.data_dir)
        .with_context(|| format!("creating `{}`", args.data_dir.display()))?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(args.data_dir.join(format!("crosswalk.db{suffix}")));
    }
    let mut launched = Vec::new();
    for entry in &options.registry {
        let wiring = entry.wiring()?;
        let simulator = entry
            .start(options.profile, &options.tweaks)
            .await
            .with_context(|| format!("starting the `{}` simulator", entry.connector()))?;
        let demo = wiring
            .demo
            .resolve(&simulator.simulator.base_url, &simulator.token);
        launched.push((
            simulator,
            Wiring {
                demo,
                suite: wiring.suite,
                hris_suite: wiring.hris_suite,
            },
        ));
    }
    let mut settings = Settings {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        database_url: String::new(),
        connectors_dir: options
            .connectors_dir
            .as_ref()
            .map(|dir| dir.display().to_string())
            .unwrap_or_default(),
        encryption: EncryptionSettings {
            current_key_id: "demo".to_owned(),
            keys: [("demo".to_owned(), demo_key(&args.data_dir)?)].into(),
        },
        connector_overrides: Default::default(),
        provider_timeout_secs: options.provider_timeout_secs.unwrap_or(30),
        public_url: None,
        redis_url: None,
        default_wait_budget_secs: 10,
        shutdown_grace_secs: 30,
        header_read_timeout_secs: 10,
        request_timeout_secs: 120,
        max_connections: 1024,
        // The demo's webhook receivers run on this machine.
        worker: crate::settings::WorkerConfig {
            webhooks: crate::settings::WebhooksConfig {
                allow_private_addresses: true,
                ..Default::default()
            },
            ..Default::default()
        },
        failed_auth_burst: options
            .failed_auth_burst
            .unwrap_or_else(|| server::FailureBudget::default().burst),
        failed_auth_refill_secs: server::FailureBudget::default().refill.as_secs(),
        mcp_watch_secs: options
            .mcp_watch_secs
            .unwrap_or(server::DEFAULT_MCP_WATCH_SECS),
    };
    for (simulator, wiring) in &launched {
        settings.connector_overrides.insert(
            simulator.connector.to_owned(),
            wiring.demo.connector_override.clone(),
        );
    }
    if let Value::Object(extra) = &options.connector_overrides {
        for (provider, patch) in extra {
            // `{url}`, `{origin}` and `{token}` stand for this vendor's simulator, as in its
            // wiring.
            let patch = launched
                .iter()
                .find(|(simulator, _)| simulator.connector == provider)
                .map_or_else(
                    || patch.clone(),
                    |(simulator, _)| {
                        simulators::registry::substitute(
                            patch,
                            &simulator.simulator.base_url,
                            &simulator.token,
                        )
                    },
                );
            let merged = settings
                .connector_overrides
                .entry(provider.clone())
                .or_insert_with(|| json!({}));
            connector::deep_merge(merged, &patch);
        }
    }

    let store = startup::open_store(&settings).await?;
    let listener = startup::bind(args.listen).await?;
    let public_url = startup::public_url(&settings, &listener)?;
    let state = startup::build_state(&settings, Arc::clone(&store), &public_url).await?;
    let environment = store.create_environment("demo").await?;
    let api_key = args.api_key.clone().unwrap_or_else(store::generate_api_key);
    store
        .insert_api_key(
            &environment.id,
            &ApiKeyHash::of(&api_key),
            &store::api_key_prefix(&api_key),
        )
        .await?;
    let mut vendors = Vec::new();
    for (simulator, wiring) in launched {
        let mut account = wiring.demo.account.clone();
        account.insert(
            "auth_scheme".to_owned(),
            Value::String(wiring.demo.auth_scheme.clone()),
        );
        let connection = connect(
            &store,
            &state.keyring,
            &environment.id,
            simulator.connector,
            Value::Object(account),
            Value::Object(wiring.demo.secrets.clone()),
        )
        .await?;
        vendors.push(SimulatedVendor {
            provider: simulator.connector.to_owned(),
            simulator,
            wiring,
            connection_id: connection.to_string(),
        });
    }
    let server = startup::spawn_server_with(
        listener,
        state.clone(),
        startup::ServerLimits::of(&settings),
    )?;
    Ok(Demo {
        settings,
        state,
        api_addr: server.addr,
        api_key,
        vendors,
        store,
        server,
    })
}

/// The curl commands the demo prints.
pub fn curl_commands(demo: &Demo) -> String {
    let base = format!("http://{}", demo.api_addr);
    let mut out = String::new();
    out.push_str(&format!(
        "Crosswalk demo is running on {base}\nAPI key: {}\n\n",
        demo.api_key
    ));
    for vendor in &demo.vendors {
        let (provider, connection) = (&vendor.provider, &vendor.connection_id);
        // The first unified object the vendor lists, in the model's order (contacts first).
        let Some(object) = demo.state.connectors.get(provider).and_then(|connector| {
            unified_model::UnifiedObject::all()
                .find(|object| connector.supports(&object.key(), connector::Operation::List))
        }) else {
            continue;
        };
        out.push_str(&format!(
            "# {provider}: unified {slug}\ncurl -s -H 'Authorization: Bearer {key}' '{base}/unified/{category}/{slug}?connection_id={connection}&page_size=5'\n\n",
            key = demo.api_key,
            category = object.category(),
            slug = object.slug(),
        ));
    }
    out.push_str(&format!(
        "# connections\ncurl -s -H 'Authorization: Bearer {}' '{base}/connections'\n\nPress Ctrl-C to stop.\n",
        demo.api_key
    ));
    out
}

/// Runs the demo until Ctrl-C.
///
/// # Errors
/// As [`start`].
pub async fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let mut demo = start(args).await?;
    let grace = std::time::Duration::from_secs(demo.settings.shutdown_grace_secs);
    let worker = startup::RunningWorker::spawn_with_webhooks(
        &demo.state.operations,
        &demo.settings.worker,
        grace,
        Some(Arc::clone(&demo.state.keyring)),
    );
    print!("{}", curl_commands(&demo));
    startup::stop_signal().await;
    worker.stop().await?;
    demo.server.shutdown(grace).await
}
