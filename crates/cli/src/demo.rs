//! `crosswalk demo`: the product on its embedded default, against local simulators.
//!
//! Starts the vendor simulators on loopback, the API on SQLite in the data directory, creates a
//! demo environment with an API key and one connection per simulator, and prints curl commands
//! that work. The simulators are named here because the demo wires them in; the runtime crates
//! never see a vendor name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::{Value, json};
use simulators::{dynamics, hubspot, pipedrive, salesforce};
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
    /// API key of the demo environment (printed when generated).
    #[arg(long)]
    pub api_key: Option<String>,
}

/// The simulators the demo starts, with their settings (tests lift the rate limits).
#[derive(Debug, Clone, Default)]
pub struct SimulatorConfigs {
    pub hubspot: hubspot::HubSpotConfig,
    pub salesforce: salesforce::SalesforceConfig,
    pub pipedrive: pipedrive::PipedriveConfig,
    pub dynamics: dynamics::DynamicsConfig,
}

/// A running simulator's handle, by vendor.
#[derive(Clone)]
pub enum SimulatorHandle {
    HubSpot(hubspot::HubSpotHandle),
    Salesforce(salesforce::SalesforceHandle),
    Pipedrive(pipedrive::PipedriveHandle),
    Dynamics(dynamics::DynamicsHandle),
}

impl SimulatorHandle {
    /// The simulator's fault queue.
    pub fn faults(&self) -> &simulators::Faults {
        match self {
            SimulatorHandle::HubSpot(handle) => handle.faults(),
            SimulatorHandle::Salesforce(handle) => handle.faults(),
            SimulatorHandle::Pipedrive(handle) => handle.faults(),
            SimulatorHandle::Dynamics(handle) => handle.faults(),
        }
    }

    /// The simulator's request log.
    pub fn requests(&self) -> &simulators::RequestLog {
        match self {
            SimulatorHandle::HubSpot(handle) => handle.requests(),
            SimulatorHandle::Salesforce(handle) => handle.requests(),
            SimulatorHandle::Pipedrive(handle) => handle.requests(),
            SimulatorHandle::Dynamics(handle) => handle.requests(),
        }
    }
}

/// One simulated vendor of the demo and the connection made to it.
pub struct SimulatedVendor {
    /// The connector id (`hubspot`).
    pub provider: String,
    pub simulator: simulators::RunningSimulator,
    pub handle: SimulatorHandle,
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
    std::fs::write(&path, &key).with_context(|| format!("writing `{}`", path.display()))?;
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
    start_with(args, SimulatorConfigs::default()).await
}

/// Starts the demo with simulators configured by the caller (tests lift their rate limits).
///
/// # Errors
/// As [`start`].
pub async fn start_with(args: &DemoArgs, configs: SimulatorConfigs) -> anyhow::Result<Demo> {
    start_with_overrides(args, configs, &Value::Null).await
}

/// Starts the demo like [`start_with`], with `connector_overrides` (keyed by connector id, as
/// in the `connector_overrides` setting) deep-merged over the ones pointing the connectors at
/// the simulators: tests point a connector at another server this way.
///
/// # Errors
/// As [`start`].
pub async fn start_with_overrides(
    args: &DemoArgs,
    configs: SimulatorConfigs,
    connector_overrides: &Value,
) -> anyhow::Result<Demo> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating `{}`", args.data_dir.display()))?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(args.data_dir.join(format!("crosswalk.db{suffix}")));
    }
    let launched = launch_simulators(configs).await?;
    let mut settings = Settings {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        database_url: String::new(),
        connectors_dir: String::new(),
        encryption: EncryptionSettings {
            current_key_id: "demo".to_owned(),
            keys: [("demo".to_owned(), demo_key(&args.data_dir)?)].into(),
        },
        connector_overrides: Default::default(),
        provider_timeout_secs: 30,
        public_url: None,
        redis_url: None,
        default_wait_budget_secs: 10,
    };
    for vendor in &launched {
        settings.connector_overrides.insert(
            vendor.provider.to_owned(),
            vendor.connector_override.clone(),
        );
    }
    if let Value::Object(extra) = connector_overrides {
        for (provider, patch) in extra {
            let merged = settings
                .connector_overrides
                .entry(provider.clone())
                .or_insert_with(|| json!({}));
            connector::deep_merge(merged, patch);
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
    for vendor in launched {
        let connection = connect(
            &store,
            &state.keyring,
            &environment.id,
            vendor.provider,
            vendor.account,
            vendor.secrets,
        )
        .await?;
        vendors.push(SimulatedVendor {
            provider: vendor.provider.to_owned(),
            simulator: vendor.simulator,
            handle: vendor.handle,
            connection_id: connection.to_string(),
        });
    }
    let server = startup::spawn_server(listener, state.clone())?;
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

/// A simulator started for the demo, with what connecting to it takes.
struct Launched {
    provider: &'static str,
    simulator: simulators::RunningSimulator,
    handle: SimulatorHandle,
    /// Operator override pointing the connector at the simulator.
    connector_override: Value,
    /// The connection's non-secret fields and its secrets.
    account: Value,
    secrets: Value,
}

fn first_token(tokens: &[String]) -> String {
    tokens.first().cloned().unwrap_or_default()
}

/// Starts every simulator on loopback port 0.
async fn launch_simulators(configs: SimulatorConfigs) -> anyhow::Result<Vec<Launched>> {
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("a literal address parses");
    let mut launched = Vec::new();

    let token = first_token(&configs.hubspot.access_tokens);
    let (simulator, handle) = hubspot::spawn(configs.hubspot, loopback).await?;
    launched.push(Launched {
        provider: "hubspot",
        connector_override: json!({
            "http": {"base_url": simulator.base_url, "allowed_hosts": ["127.0.0.1"]},
            "auth": {"schemes": {"oauth": {
                "authorize_url": format!("{}/oauth/authorize", simulator.base_url),
                "token_url": format!("{}/oauth/v1/token", simulator.base_url),
            }}},
        }),
        account: json!({"auth_scheme": "private_app"}),
        secrets: json!({"private_app_token": token}),
        simulator,
        handle: SimulatorHandle::HubSpot(handle),
    });

    let token = first_token(&configs.salesforce.access_tokens);
    let (simulator, handle) = salesforce::spawn(configs.salesforce, loopback).await?;
    launched.push(Launched {
        provider: "salesforce",
        connector_override: json!({
            "http": {"allowed_hosts": ["127.0.0.1"]},
            "auth": {"schemes": {
                "oauth": {
                    "authorize_url": format!("{}/services/oauth2/authorize", simulator.base_url),
                    "token_url": format!("{}/services/oauth2/token", simulator.base_url),
                },
                "client_credentials": {
                    "token_url": format!("{}/services/oauth2/token", simulator.base_url),
                },
            }},
        }),
        account: json!({"auth_scheme": "session", "instance_url": simulator.base_url}),
        secrets: json!({"access_token": token}),
        simulator,
        handle: SimulatorHandle::Salesforce(handle),
    });

    let token = first_token(&configs.pipedrive.api_tokens);
    let (simulator, handle) = pipedrive::spawn(configs.pipedrive, loopback).await?;
    launched.push(Launched {
        provider: "pipedrive",
        connector_override: json!({"http": {"base_url": simulator.base_url, "allowed_hosts": ["127.0.0.1"]}}),
        account: json!({"auth_scheme": "api_token", "company_domain": "demo"}),
        secrets: json!({"api_token": token}),
        simulator,
        handle: SimulatorHandle::Pipedrive(handle),
    });

    let token = first_token(&configs.dynamics.access_tokens);
    let (simulator, handle) = dynamics::spawn(configs.dynamics, loopback).await?;
    launched.push(Launched {
        provider: "dynamics365",
        connector_override: json!({"http": {"allowed_hosts": ["127.0.0.1"]}}),
        account: json!({"auth_scheme": "access_token", "org_url": simulator.base_url}),
        secrets: json!({"access_token": token}),
        simulator,
        handle: SimulatorHandle::Dynamics(handle),
    });
    Ok(launched)
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
        out.push_str(&format!(
            "# {provider}: unified contacts\ncurl -s -H 'Authorization: Bearer {key}' '{base}/unified/crm/contacts?connection_id={connection}&page_size=5'\n\n",
            key = demo.api_key
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
    let demo = start(args).await?;
    print!("{}", curl_commands(&demo));
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
