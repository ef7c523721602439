//! Small synthetic workspaces for the rules' own tests.

use std::path::Path;

/// Writes `text` at `relative` under `root`, making folders.
pub fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("a file in a folder")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A workspace that keeps every rule: one vendor (`acme`, "Acme Widgets"), one runtime crate.
pub fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path();
    write(
        root,
        "connectors/acme/connector.yaml",
        "# Acme.\nmeta:\n  id: acme\n  label: Acme Widgets\n  categories: [crm]\n",
    );
    write(
        root,
        "crates/engine/src/lib.rs",
        "//! The engine.\nfn run() {}\n",
    );
    write(root, "xtask/src/main.rs", "//! Scripts.\nfn main() {}\n");
    dir
}
