//! The one rule: the runtime knows no vendor. Runtime crate sources must not name one; every
//! vendor lives in a connector file. Simulators and the demo command are exempt (they are
//! vendor stand-ins, not runtime).

use std::path::{Path, PathBuf};

const VENDOR_NAMES: &[&str] = &[
    "hubspot",
    "salesforce",
    "pipedrive",
    "zoho",
    "dynamics",
    "bamboohr",
    "workday",
    "hibob",
    "personio",
    "close.com",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn exempt(crate_name: &str, relative: &Path) -> bool {
    crate_name == "simulators"
        || (crate_name == "cli" && relative.to_string_lossy().starts_with("demo"))
}

#[test]
fn runtime_crates_name_no_vendor() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut hits = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&crates)
        .expect("crates/ is listable")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    for crate_dir in entries {
        let Some(crate_name) = crate_dir.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let src = crate_dir.join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files.sort();
        for file in files {
            let relative = file.strip_prefix(&src).unwrap_or(&file);
            if exempt(crate_name, relative) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for (idx, line) in text.lines().enumerate() {
                let lower = line.to_lowercase();
                for name in VENDOR_NAMES {
                    if lower.contains(name) {
                        hits.push(format!(
                            "crates/{crate_name}/src/{}:{}: names `{name}`: {}",
                            relative.display(),
                            idx + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "runtime crates must not name vendors (put vendor facts in connectors/):\n{}",
        hits.join("\n")
    );
}
