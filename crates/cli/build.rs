//! Embeds every `connectors/<id>/connector.yaml` into the binary, so `crosswalk` runs from any
//! directory with the connectors it was built with.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let connectors = manifest.join("../../connectors");
    println!("cargo:rerun-if-changed={}", connectors.display());
    let mut entries = Vec::new();
    if let Ok(dir) = std::fs::read_dir(&connectors) {
        for entry in dir.flatten() {
            let file = entry.path().join("connector.yaml");
            if file.is_file() {
                println!("cargo:rerun-if-changed={}", file.display());
                let id = entry.file_name().to_string_lossy().into_owned();
                entries.push((
                    id,
                    file.canonicalize().expect("an existing file canonicalizes"),
                ));
            }
        }
    }
    entries.sort();
    let mut code = String::from(
        "/// Connector files embedded at build time: (provider id, YAML text).\npub const EMBEDDED_CONNECTORS: &[(&str, &str)] = &[\n",
    );
    for (id, path) in entries {
        let _ = writeln!(
            code,
            "    ({id:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("connectors.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
