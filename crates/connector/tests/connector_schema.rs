//! The published JSON Schema of connector files (`schemas/connector.schema.json`) matches the
//! Rust types; `UPDATE_SCHEMAS=1` rewrites it.

use std::path::PathBuf;

#[test]
fn published_connector_schema_is_up_to_date() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/connector.schema.json");
    let generated = serde_json::to_string_pretty(&connector::connector_file_schema())
        .expect("serialises")
        + "\n";
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).expect("schemas/ is writable");
        return;
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "{} is stale: run `UPDATE_SCHEMAS=1 cargo test -p connector --test connector_schema`",
        path.display()
    );
}
