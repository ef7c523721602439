//! `acme`, a fifth vendor that exists only in this test, added as a real one would be: a
//! connector folder (`connector.yaml` and `simulator.yaml`), a simulator implementing
//! [`Simulator`], and one registry line (in `main.rs`). Nothing else in the demo, the server or
//! the suite learns of it, yet the demo connects it, the Connect page offers it and every check
//! of the suite runs on it.
//!
//! To stay tiny, Acme's API is Pipedrive's under another name: its simulator serves the Pipedrive
//! simulator's router, and its connector file is Pipedrive's with its own `meta.id` and label,
//! written with the repository's connector files into a folder the demo loads.

use std::path::Path;
use std::sync::Arc;

use simulators::pipedrive::{Pipedrive, PipedriveConfig, PipedriveHandle};
use simulators::{Entry, Faults, Profile, RequestLog, Simulator};

use crate::Vendor;

/// Acme's simulator.
pub struct Acme;

impl Simulator for Acme {
    const CONNECTOR: &'static str = "acme";
    const WIRING: &'static str = include_str!("acme/simulator.yaml");
    type Config = PipedriveConfig;
    type Handle = PipedriveHandle;

    fn config(profile: Profile) -> PipedriveConfig {
        PipedriveConfig {
            seed: 2026,
            api_tokens: vec!["acme-sim-token".to_owned()],
            ..Pipedrive::config(profile)
        }
    }

    fn token(config: &PipedriveConfig) -> String {
        Pipedrive::token(config)
    }

    fn router(config: PipedriveConfig) -> (axum::Router, PipedriveHandle) {
        Pipedrive::router(config)
    }

    fn faults(handle: &PipedriveHandle) -> &Faults {
        Pipedrive::faults(handle)
    }

    fn requests(handle: &PipedriveHandle) -> &RequestLog {
        Pipedrive::requests(handle)
    }

    fn ids(handle: &PipedriveHandle, object: &str) -> Vec<String> {
        Pipedrive::ids(handle, object)
    }
}

/// Acme's connector file: Pipedrive's, renamed.
fn connector_file() -> String {
    let pipedrive =
        std::fs::read_to_string(repository_connectors().join("pipedrive/connector.yaml"))
            .expect("the pipedrive connector file reads");
    let renamed = pipedrive
        .replacen("\n  id: pipedrive\n", "\n  id: acme\n", 1)
        .replacen("\n  label: Pipedrive\n", "\n  label: Acme CRM\n", 1);
    assert!(
        renamed.contains("\n  id: acme\n"),
        "the connector was renamed"
    );
    renamed
}

fn repository_connectors() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors")
}

/// Acme as the suite sees it: its registry line, and a connector folder holding the repository's
/// connector files and Acme's, removed when the returned folder drops.
pub fn registered() -> (Vendor, tempfile::TempDir) {
    let temp = tempfile::tempdir().expect("a temp dir");
    let dir = temp.path().to_path_buf();
    for entry in std::fs::read_dir(repository_connectors()).expect("connectors/ lists") {
        let source = entry.expect("an entry").path().join("connector.yaml");
        if source.is_file() {
            let folder = dir.join(source.parent().and_then(Path::file_name).expect("a folder"));
            std::fs::create_dir_all(&folder).expect("a connector folder");
            std::fs::copy(&source, folder.join("connector.yaml")).expect("copied");
        }
    }
    std::fs::create_dir_all(dir.join("acme")).expect("acme's folder");
    std::fs::write(dir.join("acme/connector.yaml"), connector_file()).expect("written");
    let vendor = Vendor {
        entry: Entry::of::<Acme>(),
        connectors_dir: Some(Arc::new(dir)),
    };
    (vendor, temp)
}
