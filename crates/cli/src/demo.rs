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
use simulators::{hubspot, salesforce};
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

/// What a started demo exposes (used by tests).
pub struct Demo {
    pub api_addr: SocketAddr,
    pub api_key: String,
    /// Connection ids by provider.
    pub connections: Vec<(String, String)>,
    /// The store the API runs on.
    pub store: Arc<dyn Store>,
    pub server: startup::RunningServer,
    pub hubspot: (simulators::RunningSimulator, hubspot::HubSpotHandle),
    pub salesforce: (simulators::RunningSimulator, salesforce::SalesforceHandle),
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
        })
        .await?;
    Ok(connection.id)
}

/// Starts the demo and returns once the API serves.
///
/// # Errors
/// Fails when a port cannot be bound or the data directory is not writable.
pub async fn start(args: &DemoArgs) -> anyhow::Result<Demo> {
    start_with(
        args,
        hubspot::HubSpotConfig::default(),
        salesforce::SalesforceConfig::default(),
    )
    .await
}

/// Starts the demo with simulators configured by the caller (tests lift their rate limits).
///
/// # Errors
/// As [`start`].
pub async fn start_with(
    args: &DemoArgs,
    hubspot_config: hubspot::HubSpotConfig,
    salesforce_config: salesforce::SalesforceConfig,
) -> anyhow::Result<Demo> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating `{}`", args.data_dir.display()))?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(args.data_dir.join(format!("crosswalk.db{suffix}")));
    }
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("a literal address parses");
    let hubspot_token = hubspot_config
        .access_tokens
        .first()
        .cloned()
        .unwrap_or_default();
    let salesforce_token = salesforce_config
        .access_tokens
        .first()
        .cloned()
        .unwrap_or_default();
    let hubspot_sim = hubspot::spawn(hubspot_config, loopback).await?;
    let salesforce_sim = salesforce::spawn(salesforce_config, loopback).await?;

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
    };
    settings.connector_overrides.insert(
        "hubspot".to_owned(),
        json!({"http": {"base_url": hubspot_sim.0.base_url, "allowed_hosts": ["127.0.0.1"]}}),
    );
    settings.connector_overrides.insert(
        "salesforce".to_owned(),
        json!({"http": {"allowed_hosts": ["127.0.0.1"]}}),
    );

    let store = startup::open_store(&settings).await?;
    let state = startup::build_state(&settings, Arc::clone(&store))?;
    let environment = store.create_environment("demo").await?;
    let api_key = args.api_key.clone().unwrap_or_else(store::generate_api_key);
    store
        .insert_api_key(
            &environment.id,
            &ApiKeyHash::of(&api_key),
            &store::api_key_prefix(&api_key),
        )
        .await?;
    let hubspot_connection = connect(
        &store,
        &state.keyring,
        &environment.id,
        "hubspot",
        json!({"auth_scheme": "private_app"}),
        json!({"private_app_token": hubspot_token}),
    )
    .await?;
    let salesforce_connection = connect(
        &store,
        &state.keyring,
        &environment.id,
        "salesforce",
        json!({"auth_scheme": "session", "instance_url": salesforce_sim.0.base_url}),
        json!({"access_token": salesforce_token}),
    )
    .await?;
    let server = startup::spawn_server(args.listen, state).await?;
    Ok(Demo {
        api_addr: server.addr,
        api_key,
        connections: vec![
            ("hubspot".to_owned(), hubspot_connection.to_string()),
            ("salesforce".to_owned(), salesforce_connection.to_string()),
        ],
        store,
        server,
        hubspot: hubspot_sim,
        salesforce: salesforce_sim,
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
    for (provider, connection) in &demo.connections {
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
