//! The runtime knows no vendor: no runtime text (see [`super::sources`]: the Rust sources, pages
//! and migrations shipped by the runtime crates) names one, in code or in comments; every vendor
//! fact lives in its connector file.
//!
//! The vendors are read from the tree, so a new connector is covered the day it lands: each
//! folder under `connectors/` names one, by the folder's name (`dynamics365`), its connector
//! file's display name (`meta.label`, `Microsoft Dynamics 365`) and each word of four letters or
//! more of that name (`microsoft`, `dynamics`). Names match case-insensitively anywhere in a
//! line, so `HubSpotClient` names `hubspot`. The simulators and the `cli` demo are exempt (they
//! are vendor stand-ins), as are tests; inline `#[cfg(test)]` modules are read like the rest.
//! A vendor called by a common word would fail the scan at once: that calls for a decision here,
//! never for a silent exception. Decided: Close (a CRM) is `connectors/closecrm`, labelled
//! `Close CRM`; its folder name and full label are scanned, but the label's word `close` (the
//! English verb, in every runtime crate: `closed`, `unclosed`, `.close()`) is not a name on its
//! own ([`COMMON_WORDS`]).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

use super::sources::Source;

/// A name that identifies a vendor, and where it was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VendorName {
    /// Lowercase.
    pub name: String,
    pub from: String,
}

/// Words of a label that are not vendor names on their own: English words the runtime uses in
/// their ordinary sense. The folder name and the full label of such a vendor are still names.
pub const COMMON_WORDS: &[&str] = &["close"];

/// The vendor names declared by the connector folders under `root/connectors`.
pub fn vendor_names(root: &Path) -> anyhow::Result<Vec<VendorName>> {
    let connectors = root.join("connectors");
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let entries = std::fs::read_dir(&connectors)
        .with_context(|| format!("listing {}", connectors.display()))?;
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let folder = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let from = format!("connectors/{folder}");
        names.entry(folder.to_lowercase()).or_insert(from.clone());
        let file = path.join("connector.yaml");
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
            .with_context(|| format!("{}: not YAML", file.display()))?;
        let label = yaml["meta"]["label"]
            .as_str()
            .with_context(|| format!("{}: no `meta.label`", file.display()))?
            .to_lowercase();
        let from = format!("{from}/connector.yaml meta.label");
        for word in label
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| word.chars().filter(|c| c.is_alphabetic()).count() >= 4)
            .filter(|word| !COMMON_WORDS.contains(word))
        {
            names.entry(word.to_owned()).or_insert(from.clone());
        }
        names.entry(label).or_insert(from);
    }
    Ok(names
        .into_iter()
        .map(|(name, from)| VendorName { name, from })
        .collect())
}

fn exempt(source: &Source) -> bool {
    source.crate_name == "cli" && source.in_src.starts_with("demo")
}

/// Lines of runtime texts that name a vendor.
pub fn problems(root: &Path, sources: &[Source]) -> anyhow::Result<Vec<String>> {
    let names = vendor_names(root)?;
    let mut problems = Vec::new();
    for source in sources.iter().filter(|source| !exempt(source)) {
        for (idx, line) in source.text.lines().enumerate() {
            let lower = line.to_lowercase();
            // The longest name a line holds is reported, once.
            if let Some(vendor) = names
                .iter()
                .filter(|vendor| lower.contains(&vendor.name))
                .max_by_key(|vendor| vendor.name.len())
            {
                problems.push(format!(
                    "{}:{}: names the vendor `{}` ({}); vendor facts belong in connectors/: {}",
                    source.path,
                    idx + 1,
                    vendor.name,
                    vendor.from,
                    line.trim()
                ));
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tidy::sources::runtime_texts;
    use crate::tidy::testing::{tree, write};

    #[test]
    fn vendors_come_from_the_connector_folders() {
        let dir = tree();
        let names: Vec<String> = vendor_names(dir.path())
            .unwrap()
            .into_iter()
            .map(|vendor| vendor.name)
            .collect();
        assert_eq!(names, ["acme", "acme widgets", "widgets"]);
    }

    #[test]
    fn a_common_word_of_a_label_is_no_name_but_the_folder_and_label_are() {
        let dir = tree();
        write(
            dir.path(),
            "connectors/closecrm/connector.yaml",
            "meta:\n  id: closecrm\n  label: Close CRM\n",
        );
        let names: Vec<String> = vendor_names(dir.path())
            .unwrap()
            .into_iter()
            .map(|vendor| vendor.name)
            .collect();
        assert!(names.contains(&"closecrm".to_owned()), "{names:?}");
        assert!(names.contains(&"close crm".to_owned()), "{names:?}");
        assert!(!names.contains(&"close".to_owned()), "{names:?}");
    }

    #[test]
    fn a_runtime_source_naming_a_vendor_fails_and_exempt_places_pass() {
        let dir = tree();
        let root = dir.path();
        assert!(
            problems(root, &runtime_texts(root).unwrap())
                .unwrap()
                .is_empty()
        );
        // A new vendor is covered without editing this rule.
        write(
            root,
            "connectors/initech/connector.yaml",
            "meta:\n  id: initech\n  label: Initech\n",
        );
        write(
            root,
            "crates/engine/src/lib.rs",
            "//! Engine.\n// As WidgetS does.\nfn initech_quirk() {}\n",
        );
        write(
            root,
            "crates/simulators/src/lib.rs",
            "//! Sims.\nfn acme() {}\n",
        );
        write(root, "crates/cli/src/demo.rs", "//! Demo.\nfn acme() {}\n");
        write(
            root,
            "crates/engine/src/tests.rs",
            "//! Tests.\nfn acme() {}\n",
        );
        write(
            root,
            "crates/engine/tests/api.rs",
            "//! Tests.\nfn acme() {}\n",
        );
        write(
            root,
            "crates/engine/migrations/1_init.sql",
            "-- tokens\nCREATE TABLE acme (id int);\n",
        );
        let found = problems(root, &runtime_texts(root).unwrap()).unwrap();
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].starts_with("crates/engine/migrations/1_init.sql:2: names the vendor `acme`")
        );
        assert!(found[1].starts_with("crates/engine/src/lib.rs:2: names the vendor `widgets`"));
        assert!(found[2].starts_with("crates/engine/src/lib.rs:3: names the vendor `initech`"));
    }
}
