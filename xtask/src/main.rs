//! Project scripts, run as `cargo xtask <task>`.
//!
//! - `tidy`: checks house rules a compiler does not (every `.rs` file opens with a `//!`
//!   paragraph); also run as a plain test.
//! - `codegen`: regenerates checked-in generated files (the unified-model schemas and docs,
//!   the connector file schema); `codegen --check` fails when one is stale.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Rust files under `crates/` and `xtask/`, skipping build output.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|name| name == "target" || name == "node_modules")
            {
                continue;
            }
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Files that break a tidy rule, with the reason.
fn tidy_problems(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files)?;
    rust_files(&root.join("xtask"), &mut files)?;
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        if !text.starts_with("//!") {
            problems.push(format!(
                "{}: must open with a `//!` paragraph saying what it is for",
                file.display()
            ));
        }
    }
    Ok(problems)
}

fn codegen(root: &Path, check: bool) -> anyhow::Result<()> {
    for (package, test) in [
        ("unified-model", "schemas"),
        ("connector", "connector_schema"),
    ] {
        let mut command = Command::new(env!("CARGO"));
        command
            .current_dir(root)
            .args(["test", "--quiet", "-p", package, "--test", test]);
        if !check {
            command.env("UPDATE_SCHEMAS", "1");
        }
        let status = command
            .status()
            .with_context(|| format!("running the {test} test"))?;
        if !status.success() {
            bail!("`{package}` generated files are stale: run `cargo xtask codegen`");
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let root = workspace_root();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["tidy"] => {
            let problems = tidy_problems(&root)?;
            for problem in &problems {
                eprintln!("{problem}");
            }
            if !problems.is_empty() {
                bail!("{} tidy problems", problems.len());
            }
            println!("tidy: ok");
            Ok(())
        }
        ["codegen"] => codegen(&root, false),
        ["codegen", "--check"] => codegen(&root, true),
        _ => bail!("usage: cargo xtask (tidy | codegen [--check])"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rust_file_opens_with_a_module_doc() {
        let problems =
            super::tidy_problems(&super::workspace_root()).expect("the tree is readable");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
