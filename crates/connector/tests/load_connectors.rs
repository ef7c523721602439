//! Every connector file in `connectors/` loads: YAML, types, templates, JSONata and
//! cross-references all check out (what `crosswalk connectors check` runs).

use std::path::Path;

use connector::{connector_files, load_connector_from_file};

#[test]
fn every_connector_file_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors");
    let files = connector_files(&dir).expect("connectors/ is listable");
    assert!(
        !files.is_empty(),
        "no connector files under {}",
        dir.display()
    );
    let errors: Vec<String> = files
        .iter()
        .filter_map(|file| load_connector_from_file(file, None).err())
        .map(|error| error.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "connector files failed to load:\n{}",
        errors.join("\n")
    );
}

#[test]
fn every_connector_declares_a_default_scheme_and_objects() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors");
    for file in connector_files(&dir).expect("connectors/ is listable") {
        let connector = load_connector_from_file(&file, None).expect("loads");
        assert!(
            connector.scheme_name(None).is_some(),
            "{}: no default auth scheme",
            file.display()
        );
        assert!(
            connector.objects().next().is_some(),
            "{}: no unified objects",
            file.display()
        );
    }
}
