//! Categories are data: the literal `crm` stays out of the code of every runtime crate but
//! `unified-model` (which defines the categories); connector files are data and are not read.
//!
//! The rule reads code, not prose: every identifier and literal of a runtime source (its
//! `#[cfg(test)]` items left out) is searched case-insensitively, so `CrmObject`,
//! `"/unified/crm/"` and `"crm.contacts"` count, while comments and doc comments, which explain
//! with examples, do not. The tree still breaks the rule in places being mended; those are
//! listed with their counts in [`KNOWN`], a list that may only shrink (see [`super::known`]).

use std::path::Path;

use super::known::{self, Counts};
use super::sources::{Source, code_words, parse_code};

/// The known violations, from the workspace root.
pub const KNOWN: &str = "xtask/tidy/crm-known.txt";

/// The crates allowed to name a category.
const CATEGORY_CRATES: &[&str] = &["unified-model"];

/// Occurrences of `crm` in the code of each runtime source outside [`CATEGORY_CRATES`], with
/// the lines they are on.
pub fn occurrences(sources: &[Source]) -> anyhow::Result<Vec<(String, Vec<usize>)>> {
    let mut found = Vec::new();
    for source in sources {
        if CATEGORY_CRATES.contains(&source.crate_name.as_str()) {
            continue;
        }
        let file = parse_code(source)?;
        let mut lines = Vec::new();
        for word in code_words(&file) {
            let hits = word.text.to_lowercase().matches("crm").count();
            lines.extend(std::iter::repeat_n(word.line, hits));
        }
        if !lines.is_empty() {
            found.push((source.path.clone(), lines));
        }
    }
    Ok(found)
}

/// The occurrence counts by file.
pub fn counts(sources: &[Source]) -> anyhow::Result<Counts> {
    Ok(occurrences(sources)?
        .into_iter()
        .map(|(path, lines)| (path, lines.len()))
        .collect())
}

/// Differences between the tree and the known list.
pub fn problems(root: &Path, sources: &[Source]) -> anyhow::Result<Vec<String>> {
    let found = occurrences(sources)?;
    let counts: Counts = found
        .iter()
        .map(|(path, lines)| (path.clone(), lines.len()))
        .collect();
    let known = known::read(&root.join(KNOWN))?;
    let mut problems = known::compare(
        &counts,
        &known,
        KNOWN,
        "holds the literal `crm` in code; categories are data (unified-model)",
    );
    // Point at the lines of files that grew.
    for (path, lines) in &found {
        if lines.len() > known.get(path).copied().unwrap_or(0) {
            let mut lines = lines.clone();
            lines.dedup();
            let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
            problems.push(format!("{path}: `crm` on lines {}", lines.join(", ")));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tidy::sources::runtime_sources;
    use crate::tidy::testing::{tree, write};

    #[test]
    fn crm_in_runtime_code_fails_unless_known_and_the_list_only_shrinks() {
        let dir = tree();
        let root = dir.path();
        let check = || problems(root, &runtime_sources(root).unwrap()).unwrap();
        assert!(check().is_empty(), "{:#?}", check());
        write(
            root,
            "crates/engine/src/routes.rs",
            "//! Routes for `crm` objects.\n/// Serves `/unified/crm/…`.\n\
             fn route() -> &'static str {\n    let _kind = CrmObject::Contacts;\n    \"/unified/crm/contacts\"\n}\n\
             #[cfg(test)]\nmod tests { const C: &str = \"crm\"; }\n",
        );
        // Comments, docs and tests are free to say it; the code's two are not.
        write(
            root,
            "crates/unified-model/src/lib.rs",
            "//! Model.\nconst CRM: &str = \"crm\";\n",
        );
        write(
            root,
            "crates/engine/tests/api.rs",
            "//! Tests.\nconst C: &str = \"crm\";\n",
        );
        let found = check();
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].starts_with("crates/engine/src/routes.rs: holds the literal `crm`"));
        assert_eq!(found[1], "crates/engine/src/routes.rs: `crm` on lines 4, 5");
        // Listed, it passes; the list must then shrink with the code.
        write(root, KNOWN, "# known\ncrates/engine/src/routes.rs 2\n");
        assert!(check().is_empty(), "{:#?}", check());
        write(
            root,
            "crates/engine/src/routes.rs",
            "//! Routes.\nfn route() -> &'static str { \"/unified/crm/contacts\" }\n",
        );
        let found = check();
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("listed 2 times"), "{found:#?}");
    }
}
