//! Service settings: one optional TOML file plus `CROSSWALK_*` environment overrides (`__`
//! separates nesting levels, e.g. `CROSSWALK_ENCRYPTION__CURRENT_KEY_ID`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything `crosswalk serve` needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// Folder of the SQLite database and other local state.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; empty for SQLite in `data_dir`.
    #[serde(default)]
    pub database_url: String,
    /// Folder of connector files; empty for the connectors built into the binary.
    #[serde(default)]
    pub connectors_dir: String,
    /// Keys that seal credentials at rest.
    pub encryption: EncryptionSettings,
    /// Trusted, operator-level patches deep-merged into connector files, by provider id
    /// (for example a base URL pointing at a sandbox or simulator).
    #[serde(default)]
    pub connector_overrides: BTreeMap<String, serde_json::Value>,
    /// Default timeout of one vendor call, in seconds.
    #[serde(default = "default_timeout")]
    pub provider_timeout_secs: u64,
    /// The URL end users' browsers reach this server at (Connect links, OAuth redirect URIs);
    /// default `http://` and the listen address.
    #[serde(default)]
    pub public_url: Option<String>,
    /// `redis://…` to share rate-limit buckets between processes; empty keeps them in the process.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// How long an interactive call waits for the vendor budget when it does not say
    /// (`max_wait_ms`).
    #[serde(default = "default_wait_budget")]
    pub default_wait_budget_secs: u64,
    /// On SIGTERM or Ctrl-C, how long requests and token refreshes in flight may take to
    /// finish before the process stops anyway.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_secs: u64,
    /// How long a client may take to send a request's head, and stay idle between two
    /// requests on a kept-alive connection, before the connection is closed.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// How long one request may take, vendor calls and waits for the vendor budget included,
    /// before it is answered 503 `request_timeout`.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// Connections served at once; past it, new ones wait in the listen queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// The job worker every process runs (`serve`, `demo`, `work`).
    #[serde(default)]
    pub worker: WorkerConfig,
    /// Failed authentications one client address (an IPv6 /64) may make at once before it is
    /// answered 429 `auth_throttled`; then one more every `failed_auth_refill_secs`.
    #[serde(default = "default_failed_auth_burst")]
    pub failed_auth_burst: u32,
    /// Seconds for one more failed authentication to be allowed an address past its burst.
    #[serde(default = "default_failed_auth_refill")]
    pub failed_auth_refill_secs: u64,
    /// How often, in seconds, each open MCP session's tools are rebuilt to tell its client when
    /// they changed (`notifications/tools/list_changed`).
    #[serde(default = "default_mcp_watch")]
    pub mcp_watch_secs: u64,
}

fn default_mcp_watch() -> u64 {
    server::DEFAULT_MCP_WATCH_SECS
}

fn default_failed_auth_burst() -> u32 {
    server::FailureBudget::default().burst
}

fn default_failed_auth_refill() -> u64 {
    server::FailureBudget::default().refill.as_secs()
}

/// How a process's job worker claims and holds jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// How long a claim holds a job without renewal: how long the jobs of a process that died
    /// wait before another takes them over. The worker renews well within it.
    pub lease_secs: u64,
    /// Jobs one process runs at once.
    pub concurrency: usize,
    /// How outbound webhooks are delivered.
    pub webhooks: WebhooksConfig,
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            lease_secs: 60,
            concurrency: 4,
            webhooks: WebhooksConfig::default(),
        }
    }
}

/// How a process's worker delivers outbound webhooks (`[worker.webhooks]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Lets deliveries reach private and loopback addresses (receivers next to Crosswalk);
    /// by default only public addresses are called.
    pub allow_private_addresses: bool,
    /// Keeps deliveries on loopback addresses only (test setups where nothing may leave the
    /// machine); wins over `allow_private_addresses`.
    pub loopback_only: bool,
    /// How long one delivery attempt may take, connection included.
    pub timeout_secs: u64,
    /// How often an idle endpoint's delivery job looks for new events.
    pub poll_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> WebhooksConfig {
        WebhooksConfig {
            allow_private_addresses: false,
            loopback_only: false,
            timeout_secs: 15,
            poll_secs: 2,
        }
    }
}

impl WebhooksConfig {
    /// The delivery settings these make.
    pub fn settings(&self) -> webhooks::WebhookSettings {
        let addresses = if self.loopback_only {
            webhooks::AddressPolicy::LoopbackOnly
        } else if self.allow_private_addresses {
            webhooks::AddressPolicy::AllowPrivate
        } else {
            webhooks::AddressPolicy::PublicOnly
        };
        webhooks::WebhookSettings {
            addresses,
            timeout: std::time::Duration::from_secs(self.timeout_secs.max(1)),
            poll: std::time::Duration::from_secs(self.poll_secs.max(1)),
            ..webhooks::WebhookSettings::default()
        }
    }
}

fn default_header_read_timeout() -> u64 {
    10
}

fn default_request_timeout() -> u64 {
    120
}

fn default_max_connections() -> usize {
    1024
}

fn default_wait_budget() -> u64 {
    10
}

fn default_shutdown_grace() -> u64 {
    30
}

fn default_timeout() -> u64 {
    30
}

/// Encryption keys, by id; `current_key_id` seals, every key opens.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionSettings {
    pub current_key_id: String,
    /// Base64 of 32 random bytes each (`crosswalk default-config` prints a fresh one).
    pub keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for EncryptionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionSettings")
            .field("current_key_id", &self.current_key_id)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Settings {
    /// Loads settings from `file` (if given) and the environment.
    ///
    /// # Errors
    /// Fails naming the file or variable that is wrong.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::default("listen", "127.0.0.1:8080"))
            .merge(Serialized::default("data_dir", ".crosswalk"));
        if let Some(file) = file {
            anyhow::ensure!(
                file.is_file(),
                "settings file `{}` does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        // `CROSSWALK_LOG` is the log filter (read by the binary), not a setting.
        // `CROSSWALK_LOG` is the log filter and `CROSSWALK_TEST_*` are the test suite's own
        // variables: neither is a setting.
        figment = figment.merge(
            Env::prefixed("CROSSWALK_")
                .ignore(&["log"])
                .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_"))
                .split("__"),
        );
        figment
            .extract()
            .map_err(|error| anyhow::anyhow!("invalid settings: {error}"))
    }

    /// The keyring the encryption settings describe.
    ///
    /// # Errors
    /// Fails when a key is not base64 of 32 bytes or the current key is missing.
    pub fn keyring(&self) -> anyhow::Result<secrets::Keyring> {
        let keys: Vec<(&str, &str)> = self
            .encryption
            .keys
            .iter()
            .map(|(id, key)| (id.as_str(), key.as_str()))
            .collect();
        secrets::Keyring::from_base64(&self.encryption.current_key_id, &keys)
            .context("invalid `encryption` settings")
    }

    /// The keys cursors are signed with: one derived from each encryption key, by key id, and
    /// the current key's id. A cursor names the key that signed it, so cursors issued before a
    /// key rotation stay valid while the old key is in the keyring.
    pub fn cursor_keys(&self) -> (String, Vec<(String, Vec<u8>)>) {
        use sha2::Digest as _;
        let keys = self
            .encryption
            .keys
            .iter()
            .map(|(id, key)| {
                let mut hasher = sha2::Sha256::new();
                hasher.update(b"crosswalk cursor key v1\0");
                hasher.update(key.as_bytes());
                (id.clone(), hasher.finalize().to_vec())
            })
            .collect();
        (self.encryption.current_key_id.clone(), keys)
    }
}

/// A commented example settings file with a freshly generated key.
pub fn default_config() -> String {
    format!(
        r#"# Crosswalk settings. Every value can be overridden by an environment variable:
# CROSSWALK_LISTEN, CROSSWALK_DATABASE_URL, CROSSWALK_ENCRYPTION__CURRENT_KEY_ID, …

# Address the API listens on.
listen = "127.0.0.1:8080"
# Folder of the SQLite database (the embedded default).
data_dir = ".crosswalk"
# Set to postgres://user@host/db to run several processes on PostgreSQL.
database_url = ""
# Folder of connector files; empty uses the connectors built into the binary.
connectors_dir = ""
# Default timeout of one vendor call.
provider_timeout_secs = 30
# The URL end users' browsers reach this server at (Connect links, OAuth redirect URIs).
# public_url = "https://crosswalk.example.com"
# Set to redis://host:6379 to share rate-limit buckets between several processes.
redis_url = ""
# How long an interactive call waits for the vendor's budget unless it says (max_wait_ms).
default_wait_budget_secs = 10
# On SIGTERM or Ctrl-C, how long requests and token refreshes in flight may take to finish.
shutdown_grace_secs = 30
# How long a client may take to send a request head, or stay idle on a kept-alive connection.
header_read_timeout_secs = 10
# How long one request may take in all (vendor calls and budget waits included).
request_timeout_secs = 120
# Connections served at once; more wait in the listen queue.
max_connections = 1024
# Failed authentications one client address may make at once (then 429 auth_throttled), and
# the seconds after which one more is allowed.
failed_auth_burst = 20
failed_auth_refill_secs = 3
# How often, in seconds, each open MCP session's tools are checked for changes (custom fields,
# overrides), which are then notified to its client.
mcp_watch_secs = 30

[worker]
# How long the jobs of a process that died wait before another process takes them over.
lease_secs = 60
# Jobs (sync runs, webhook deliveries) one process runs at once.
concurrency = 4

[worker.webhooks]
# Outbound webhooks go to public addresses only unless private ones are allowed (receivers on
# your own network); loopback_only keeps them on this machine (tests).
allow_private_addresses = false
loopback_only = false
# How long one delivery attempt may take, and how often an idle endpoint looks for events.
timeout_secs = 15
poll_secs = 2

[encryption]
# Credentials are sealed with AES-256-GCM under the current key; older keys still open.
current_key_id = "k1"
keys = {{ k1 = "{}" }}
"#,
        secrets::generate_key()
    )
}
