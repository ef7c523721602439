//! Lists of known violations that may only shrink.
//!
//! A rule the tree does not keep yet checks against a checked-in list: one entry a line, a key
//! and, where it counts occurrences, how many (`crates/server/src/openapi.rs 7`); `#` starts a
//! comment. The check is exact both ways: a violation not listed, or more occurrences than
//! listed, fail (the list may not grow), and so does an entry whose violation is gone or
//! smaller (the list must shrink with the tree). `cargo xtask tidy --shrink` rewrites a list to
//! the tree when only the second kind of difference is left.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};

/// Occurrences of a violation by key.
pub type Counts = BTreeMap<String, usize>;

/// Reads a list; a missing file is an empty list.
pub fn read(path: &Path) -> anyhow::Result<Counts> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Counts::new()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let mut counts = Counts::new();
    for (idx, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        let mut parts = entry.split_whitespace();
        let key = parts.next().unwrap_or_default().to_owned();
        let count = match parts.next() {
            None => 1,
            Some(count) => count.parse().with_context(|| {
                format!("{}:{}: `{count}` is no count", path.display(), idx + 1)
            })?,
        };
        if parts.next().is_some() || counts.insert(key.clone(), count).is_some() {
            bail!(
                "{}:{}: expected `key [count]` once per key",
                path.display(),
                idx + 1
            );
        }
    }
    Ok(counts)
}

/// The differences between what the tree holds and the list at `list` (shown in messages).
pub fn compare(found: &Counts, known: &Counts, list: &str, what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, &count) in found {
        let listed = known.get(key).copied().unwrap_or(0);
        if count > listed {
            problems.push(format!(
                "{key}: {what} ({count}, {listed} known in {list}); the list may only shrink"
            ));
        }
    }
    for (key, &listed) in known {
        let count = found.get(key).copied().unwrap_or(0);
        if count < listed {
            problems.push(format!(
                "{key}: listed {listed} times in {list} but {count} left: lower the entry (`cargo xtask tidy --shrink`)"
            ));
        }
    }
    problems
}

/// Rewrites the list at `path` to `found`, keeping its header comments, when no entry grew.
pub fn shrink(path: &Path, found: &Counts, counted: bool) -> anyhow::Result<()> {
    let known = read(path)?;
    if found
        .iter()
        .any(|(key, &count)| count > known.get(key).copied().unwrap_or(0))
    {
        bail!(
            "{}: the tree has violations the list does not hold; fix them, the list may not grow",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: String = text
        .lines()
        .take_while(|line| line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    for (key, count) in found {
        // An entry keeps its comment.
        let comment = text
            .lines()
            .find(|line| line.split_whitespace().next() == Some(key.as_str()))
            .and_then(|line| line.find('#').map(|at| format!("  {}", &line[at..])))
            .unwrap_or_default();
        if counted {
            out.push_str(&format!("{key} {count}{comment}\n"));
        } else {
            out.push_str(&format!("{key}{comment}\n"));
        }
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(entries: &[(&str, usize)]) -> Counts {
        entries
            .iter()
            .map(|(key, count)| ((*key).to_owned(), *count))
            .collect()
    }

    #[test]
    fn a_list_is_exact_both_ways() {
        let known = counts(&[("a.rs", 2), ("b.rs", 1)]);
        assert!(compare(&known, &known, "list", "x").is_empty());
        // A new file, and a listed one that grew.
        let grown = compare(
            &counts(&[("a.rs", 3), ("b.rs", 1), ("c.rs", 1)]),
            &known,
            "list",
            "x",
        );
        assert_eq!(grown.len(), 2, "{grown:?}");
        assert!(
            grown.iter().all(|p| p.contains("may only shrink")),
            "{grown:?}"
        );
        // A listed file mended in part, another mended whole.
        let shrunk = compare(&counts(&[("a.rs", 1)]), &known, "list", "x");
        assert_eq!(shrunk.len(), 2, "{shrunk:?}");
        assert!(
            shrunk.iter().all(|p| p.contains("lower the entry")),
            "{shrunk:?}"
        );
    }

    #[test]
    fn shrink_rewrites_a_list_but_never_grows_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known.txt");
        std::fs::write(&path, "# header\na.rs 2  # why\nb.rs 1\n").unwrap();
        assert_eq!(read(&path).unwrap(), counts(&[("a.rs", 2), ("b.rs", 1)]));
        assert!(shrink(&path, &counts(&[("c.rs", 1)]), true).is_err());
        shrink(&path, &counts(&[("a.rs", 1)]), true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# header\na.rs 1  # why\n"
        );
    }
}
