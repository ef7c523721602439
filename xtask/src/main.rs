//! Project scripts, run as `cargo xtask <task>`.
//!
//! - `tidy`: checks house rules a compiler does not (see [`tidy`]); each is also a plain test.
//!   `tidy --shrink` lowers the lists of known violations to what the tree still holds.
//! - `codegen`: regenerates checked-in generated files (the unified-model schemas and docs,
//!   the connector file schema); `codegen --check` fails when one is stale.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

mod tidy;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
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
            let problems = tidy::problems(&root)?;
            for problem in &problems {
                eprintln!("{problem}");
            }
            if !problems.is_empty() {
                bail!("{} tidy problems", problems.len());
            }
            println!("tidy: ok");
            Ok(())
        }
        ["tidy", "--shrink"] => tidy::shrink(&root),
        ["codegen"] => codegen(&root, false),
        ["codegen", "--check"] => codegen(&root, true),
        _ => bail!("usage: cargo xtask (tidy [--shrink] | codegen [--check])"),
    }
}
