//! The MCP server (issue 20), proved with clients nobody here wrote: the demo (API and every
//! simulator of the registry) runs in-process on loopback, and the official MCP TypeScript SDK
//! (`mcp/sdk_client.mjs`) lists tools and calls list, get, create and update for a contact on
//! each vendor's connection, writes a custom field through the tool that types it, and finds
//! another environment's connection unreachable; it lists employees on each HRIS connection
//! (sensitive fields withheld as in the REST API), and with keys of other permissions finds no
//! write tool for a read-only key, delete tools only for a key allowed to delete, and no way
//! from a key scoped to one connection to another; the MCP Inspector CLI lists the demo's tools.
//! Raw JSON-RPC requests show both protocol generations on one endpoint: the stateless
//! revision without a session and the 2025 revisions with one.
//!
//! The npm packages are pinned in `mcp/package.json` and installed by `scripts/test-deps`;
//! when they are missing the tests fail naming the install command, they never skip.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cli::demo::{self, Demo, DemoArgs, Options};
use serde_json::{Value, json};

/// The longest one client run may take before the test gives up on it.
const CLIENT_RUN_LIMIT: Duration = Duration::from_secs(300);
const INSTALL_HINT: &str =
    "install the MCP tests' npm packages with `./scripts/test-deps` (./scripts/test runs it)";

fn mcp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../mcp")
        .canonicalize()
        .expect("the mcp folder")
}

fn installed(relative: &str) -> PathBuf {
    let path = mcp_dir().join(relative);
    assert!(
        path.exists(),
        "`{}` is missing: {INSTALL_HINT}",
        path.display()
    );
    path
}

struct App {
    demo: Demo,
    base: String,
    client: reqwest::Client,
    _data_dir: tempfile::TempDir,
}

impl App {
    async fn start() -> App {
        let data_dir = tempfile::tempdir().expect("a temp dir");
        let args = DemoArgs {
            listen: "127.0.0.1:0".parse().expect("a literal address"),
            data_dir: data_dir.path().to_path_buf(),
            api_key: None,
        };
        let options = Options {
            mcp_watch_secs: Some(1),
            ..Options::tests()
        };
        let demo = demo::start_with(&args, options)
            .await
            .expect("the demo starts");
        App {
            base: format!("http://{}", demo.api_addr),
            demo,
            client: reqwest::Client::new(),
            _data_dir: data_dir,
        }
    }

    /// Another environment with its own key and a connection to the HubSpot simulator; returns
    /// that connection's id.
    async fn other_environments_connection(&self) -> String {
        let other = self
            .demo
            .store
            .create_environment("other")
            .await
            .expect("environment");
        let key = store::generate_api_key();
        self.demo
            .store
            .insert_api_key(
                &other.id,
                &store::ApiKeyHash::of(&key),
                &store::api_key_prefix(&key),
            )
            .await
            .expect("api key");
        let token = &self.demo.vendor("hubspot").simulator.token;
        let response = self
            .client
            .post(format!("{}/connections", self.base))
            .bearer_auth(&key)
            .json(&json!({"provider": "hubspot", "auth_scheme": "private_app", "fields": {"private_app_token": token}}))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.expect("JSON");
        created["id"].as_str().expect("an id").to_owned()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(&self.demo.api_key, path).await
    }

    async fn get_as(&self, key: &str, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A new key of the demo's environment with `permissions`, made through the keys API with
    /// the demo's key (which has every right).
    async fn key_with(&self, permissions: Value) -> String {
        let response = self
            .client
            .post(format!("{}/environment/api-keys", self.base))
            .bearer_auth(&self.demo.api_key)
            .json(&json!({"permissions": permissions}))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.expect("JSON");
        created["key"].as_str().expect("a key").to_owned()
    }

    /// One JSON-RPC POST to `path` with `headers`; returns the status, the headers and the
    /// JSON answer (the first `data:` line of an event stream).
    async fn rpc(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.demo.api_key)
            .header("Accept", "application/json, text/event-stream")
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let json_text = text
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim)
            .find(|data| data.starts_with('{'))
            .unwrap_or(text.as_str());
        (
            status,
            headers,
            serde_json::from_str(json_text).unwrap_or(Value::String(text.clone())),
        )
    }
}

/// Runs `node script` in the mcp folder with `envs`; fails with its output unless it exits 0.
async fn node(args: &[&str], envs: &[(&str, String)]) -> String {
    let mut command = tokio::process::Command::new("node");
    command
        .args(args)
        .current_dir(mcp_dir())
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    for (name, value) in envs {
        command.env(name, value);
    }
    let output = tokio::time::timeout(CLIENT_RUN_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("`node {args:?}` did not finish within {CLIENT_RUN_LIMIT:?}"))
        .unwrap_or_else(|error| panic!("node starts: {error}"));
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "`node {}` failed ({}):\n{text}",
        args.join(" "),
        output.status
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_typescript_sdk_uses_every_vendor_through_its_tools() {
    installed("node_modules/@modelcontextprotocol/sdk/package.json");
    let app = App::start().await;
    let other = app.other_environments_connection().await;
    // The CRM simulators: those with the cross-vendor suite's contact facts.
    let crm: Vec<(&demo::SimulatedVendor, &simulators::registry::SuiteFacts)> = app
        .demo
        .vendors
        .iter()
        .filter_map(|vendor| vendor.wiring.suite.as_ref().map(|suite| (vendor, suite)))
        .collect();
    let vendors: Vec<Value> = crm
        .iter()
        .map(|(vendor, suite)| {
            json!({
                "provider": vendor.provider,
                "connection_id": vendor.connection_id,
                "custom_field": suite.contact_custom_field,
                "missing_id": suite.missing_contact_id,
            })
        })
        .collect();
    assert_eq!(vendors.len(), 6, "the demo's six CRMs");
    // The HRIS simulators: the demo's vendors without the CRM suite's facts.
    let hris: Vec<&demo::SimulatedVendor> = app
        .demo
        .vendors
        .iter()
        .filter(|vendor| vendor.wiring.suite.is_none())
        .collect();
    assert!(!hris.is_empty(), "the demo has an HRIS vendor");
    let hris_json: Vec<Value> = hris
        .iter()
        .map(|vendor| json!({"provider": vendor.provider, "connection_id": vendor.connection_id}))
        .collect();
    // The main run uses a key as the keys API makes it by default (every connection, reads and
    // writes, no deletes); the others each differ in one permission.
    let writer = app.key_with(json!({})).await;
    let keys = json!({
        "deleter": app.key_with(json!({"deletes": true})).await,
        "reader": app.key_with(json!({"read_only": true})).await,
        "scoped": app.key_with(json!({"connection_ids": [crm[0].0.connection_id]})).await,
    });
    let output = node(
        &["sdk_client.mjs"],
        &[
            ("CROSSWALK_MCP_BASE", app.base.clone()),
            ("CROSSWALK_MCP_KEY", writer.clone()),
            ("CROSSWALK_MCP_VENDORS", Value::Array(vendors).to_string()),
            ("CROSSWALK_MCP_OTHER", other.clone()),
            ("CROSSWALK_MCP_FILTER", "updated_after".to_owned()),
            ("CROSSWALK_MCP_HRIS", Value::Array(hris_json).to_string()),
            ("CROSSWALK_MCP_KEYS", keys.to_string()),
        ],
    )
    .await;
    let line = output
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .unwrap_or_else(|| panic!("the client printed no JSON line: {output}"));
    let seen: Value = serde_json::from_str(line).expect("the client's JSON line");
    for (vendor, suite) in &crm {
        let provider = vendor.provider.as_str();
        let result = &seen["vendors"][provider];
        assert_eq!(result["updated_first_name"], "Grace", "{provider}: {seen}");
        assert_eq!(result["missing_status"], 404, "{provider}: {seen}");
        assert_eq!(
            result["read_custom_value"], result["custom_value"],
            "{provider}: the custom field written through the tool reads back: {seen}"
        );
        // The vendor holds it: the REST API reads the contact back with the custom field.
        let id = result["created"].as_str().expect("a created id");
        let (status, record) = app
            .get(&format!(
                "/unified/crm/contacts/{id}?connection_id={}",
                vendor.connection_id
            ))
            .await;
        assert_eq!(status, 200, "{provider}: {record}");
        assert_eq!(record["first_name"], "Grace", "{provider}");
        assert_eq!(
            record["custom_fields"][suite.contact_custom_field.as_str()],
            result["custom_value"],
            "{provider}: {record}"
        );
    }
    let mut ours: Vec<String> = crm
        .iter()
        .map(|(vendor, _)| vendor.connection_id.clone())
        .collect();
    ours.sort();
    let mut every: Vec<String> = app
        .demo
        .vendors
        .iter()
        .map(|vendor| vendor.connection_id.clone())
        .collect();
    every.sort();
    assert_eq!(seen["all"]["first_tool"], "connections_list", "{seen}");
    assert_eq!(seen["all"]["offered"], json!(ours), "{seen}");
    assert_eq!(seen["all"]["listed"], json!(every), "{seen}");
    assert_eq!(seen["all"]["other_offered"], false, "{seen}");
    assert_eq!(seen["all"]["other_call_is_error"], true, "{seen}");
    assert_eq!(
        seen["other_environment"]["reached"], false,
        "another environment's connection is not reachable: {seen}"
    );
    assert_eq!(
        seen["search"]["tools"],
        json!(["find_tools", "call_tool"]),
        "{seen}"
    );
    assert_eq!(
        seen["search"]["first_found"], "crm_contacts_create",
        "{seen}"
    );
    assert_eq!(seen["search"]["found_has_schema"], true, "{seen}");
    assert_eq!(seen["search"]["called_results"], 1, "{seen}");
    assert_eq!(seen["read_only"]["all_read_only"], true, "{seen}");
    assert_eq!(seen["read_only"]["create_refused"], true, "{seen}");
    assert!(
        seen["read_only"]["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().all(|tool| {
                let name = tool.as_str().unwrap_or_default();
                name.ends_with("_list") || name.ends_with("_get")
            })),
        "{seen}"
    );
    assert_eq!(
        seen["list_changed"],
        json!({"notified": true, "changed": true}),
        "{seen}"
    );

    // Each HRIS connection's employees through its tool: the REST API's page, record for
    // record, so sensitive fields are withheld the same way.
    for vendor in &hris {
        let provider = vendor.provider.as_str();
        let through_mcp = &seen["hris"][provider]["results"];
        let (status, page) = app
            .get_as(
                &writer,
                &format!(
                    "/unified/hris/employees?connection_id={}&page_size=5",
                    vendor.connection_id
                ),
            )
            .await;
        assert_eq!(status, 200, "{provider}: {page}");
        assert_eq!(through_mcp, &page["results"], "{provider}");
        let employees = through_mcp.as_array().expect("employees");
        // Five asked for; a vendor whose list is not paged (HiBob's people search answers
        // every match at once) gives one page with no next cursor.
        if page["next_cursor"].is_string() {
            assert_eq!(employees.len(), 5, "{provider}: {seen}");
        } else {
            assert!(employees.len() >= 5, "{provider}: {seen}");
        }
        for employee in employees {
            for field in unified_model::UnifiedObject::parse("hris", "employees")
                .expect("employees")
                .sensitive_fields()
            {
                assert!(
                    employee[*field].is_null() || employee[*field] == json!([]),
                    "{provider}: `{field}` withheld: {employee}"
                );
            }
        }
    }

    // Permissions of the key, not of the URL.
    assert_eq!(
        seen["deleting_key"],
        json!({"has_delete_tool": true, "destructive": true, "read_only_hint": false,
            "deleted": true, "gone_status": 404}),
        "{seen}"
    );
    let read_only = &seen["read_only_key"];
    let reading = |names: &Value| {
        names.as_array().is_some_and(|names| {
            !names.is_empty()
                && names.iter().all(|name| {
                    let name = name.as_str().unwrap_or_default();
                    name.ends_with("_list") || name.ends_with("_get")
                })
        })
    };
    assert!(reading(&read_only["tools"]), "{seen}");
    assert!(reading(&read_only["found"]), "{seen}");
    assert_eq!(read_only["all_read_only"], true, "{seen}");
    assert_eq!(read_only["create_refused"], true, "{seen}");
    assert_eq!(read_only["search_update_refused"], true, "{seen}");
    assert_eq!(read_only["call_tool_read_only"], true, "{seen}");
    assert_eq!(read_only["reads"], true, "{seen}");
    let scoped = &seen["scoped_key"];
    let mine = json!([crm[0].0.connection_id]);
    assert_eq!(scoped["offered"], mine, "{seen}");
    assert_eq!(scoped["listed"], mine, "{seen}");
    assert_eq!(scoped["own_reads"], true, "{seen}");
    assert_eq!(scoped["other_call_status"], 404, "{seen}");
    assert_eq!(scoped["other_endpoint_reached"], false, "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_inspector_cli_lists_the_demos_tools() {
    let inspector = installed("node_modules/.bin/mcp-inspector");
    let app = App::start().await;
    let hubspot = app.demo.vendor("hubspot").connection_id.clone();
    let url = format!("{}/mcp/connections/{hubspot}", app.base);
    let header = format!("Authorization: Bearer {}", app.demo.api_key);
    let output = node(
        &[
            inspector.to_str().expect("a UTF-8 path"),
            "--cli",
            &url,
            "--transport",
            "http",
            "--method",
            "tools/list",
            "--header",
            &header,
        ],
        &[],
    )
    .await;
    let start = output
        .find('{')
        .unwrap_or_else(|| panic!("no JSON: {output}"));
    let listed: Value = serde_json::Deserializer::from_str(&output[start..])
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no JSON: {output}"));
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    for name in [
        "crm_contacts_list",
        "crm_contacts_get",
        "crm_contacts_create",
        "crm_contacts_update",
    ] {
        assert!(names.contains(&name), "{name}: {names:?}");
    }
    assert!(!output.contains(&app.demo.api_key), "the key is not echoed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_endpoint_answers_the_stateless_revision_and_the_session_based_ones() {
    let app = App::start().await;
    let hubspot = app.demo.vendor("hubspot").connection_id.clone();
    let path = format!("/mcp/connections/{hubspot}");
    // The stateless revision: no initialize, no session, the version in every request.
    let (status, headers, answer) = app
        .rpc(
            &path,
            &[
                ("MCP-Protocol-Version", "2026-07-28"),
                ("Mcp-Method", "tools/list"),
            ],
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}
            }}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(headers.get("mcp-session-id").is_none(), "{headers:?}");
    let tools = answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(tools.iter().any(|tool| tool["name"] == "crm_contacts_list"));
    // A 2025 revision: initialize opens a session, whose id the next requests carry.
    let (status, headers, answer) = app
        .rpc(
            &path,
            &[],
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"}}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["result"]["protocolVersion"], "2025-06-18",
        "{answer}"
    );
    assert_eq!(
        answer["result"]["capabilities"]["tools"]["listChanged"], true,
        "{answer}"
    );
    let session = headers
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .expect("a session id")
        .to_owned();
    let with_session = [
        ("Mcp-Session-Id", session.as_str()),
        ("MCP-Protocol-Version", "2025-06-18"),
    ];
    let (status, _, _) = app
        .rpc(
            &path,
            &with_session,
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
    assert_eq!(status, 202);
    let (status, _, answer) = app
        .rpc(
            &path,
            &with_session,
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                "name": "crm_contacts_list", "arguments": {"page_size": 1}}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["results"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{answer}"
    );
    // Without a key, or with a query parameter the endpoint does not take: problem+json.
    let response = app
        .client
        .post(format!("{}{path}", app.base))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), 401);
    let (status, _, answer) = app
        .rpc(
            &format!("{path}?mode=everything"),
            &[],
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"], "mode", "{answer}");
}
