//! `cargo xtask tidy`: house rules a compiler does not check, each also a plain `#[test]` over
//! the workspace (so `cargo test` keeps them) with a test of its own on a small synthetic tree.
//!
//! - every `.rs` file opens with a `//!` paragraph;
//! - no runtime source names a vendor ([`vendors`]);
//! - the literal `crm` stays out of runtime code but `unified-model` ([`category`]);
//! - every connector file field is read by the runtime ([`connector_fields`]).
//!
//! The last two check against lists of known violations that may only shrink ([`known`]).

pub mod category;
pub mod connector_fields;
pub mod known;
pub mod sources;
#[cfg(test)]
pub mod testing;
pub mod vendors;

use std::path::Path;

use anyhow::Context as _;

/// Rust files under `crates/` and `xtask/` that do not open with a `//!` paragraph.
pub fn module_doc_problems(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = sources::rust_files(&root.join("crates"))?;
    files.extend(sources::rust_files(&root.join("xtask"))?);
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        if !text.starts_with("//!") {
            let shown = file.strip_prefix(root).unwrap_or(&file);
            problems.push(format!(
                "{}: must open with a `//!` paragraph saying what it is for",
                shown.display()
            ));
        }
    }
    Ok(problems)
}

/// Every rule's problems.
pub fn problems(root: &Path) -> anyhow::Result<Vec<String>> {
    let sources = sources::runtime_sources(root)?;
    let mut problems = module_doc_problems(root)?;
    problems.extend(vendors::problems(root, &sources::runtime_texts(root)?)?);
    problems.extend(category::problems(root, &sources)?);
    problems.extend(connector_fields::problems(root, &sources)?);
    Ok(problems)
}

/// Rewrites the known lists to the tree where violations were mended; fails if any grew.
pub fn shrink(root: &Path) -> anyhow::Result<()> {
    let sources = sources::runtime_sources(root)?;
    known::shrink(
        &root.join(category::KNOWN),
        &category::counts(&sources)?,
        true,
    )?;
    known::shrink(
        &root.join(connector_fields::KNOWN),
        &connector_fields::counts(root, &sources)?,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace_root;

    fn runtime() -> Vec<sources::Source> {
        sources::runtime_sources(&workspace_root()).expect("the tree is readable")
    }

    #[test]
    fn every_rust_file_opens_with_a_module_doc() {
        let problems = module_doc_problems(&workspace_root()).expect("the tree is readable");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn a_file_without_a_module_doc_fails() {
        let dir = testing::tree();
        assert!(module_doc_problems(dir.path()).unwrap().is_empty());
        testing::write(dir.path(), "crates/engine/src/bare.rs", "fn bare() {}\n");
        let found = module_doc_problems(dir.path()).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("crates/engine/src/bare.rs: must open"));
    }

    #[test]
    fn runtime_crates_name_no_vendor() {
        let root = workspace_root();
        let texts = sources::runtime_texts(&root).expect("the tree is readable");
        let problems = vendors::problems(&root, &texts).expect("readable");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_vendor_scan_covers_every_connector() {
        let names: Vec<String> = vendors::vendor_names(&workspace_root())
            .expect("connectors/ is readable")
            .into_iter()
            .map(|vendor| vendor.name)
            .collect();
        for vendor in [
            "hubspot",
            "salesforce",
            "pipedrive",
            "dynamics365",
            "dynamics",
        ] {
            assert!(names.iter().any(|name| name == vendor), "{names:?}");
        }
    }

    #[test]
    fn runtime_code_holds_crm_only_where_known() {
        let problems = category::problems(&workspace_root(), &runtime()).expect("readable");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_runtime_reads_every_connector_field_but_the_known() {
        let problems = connector_fields::problems(&workspace_root(), &runtime()).expect("readable");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
