//! `crosswalk map`: evaluates a JSONata expression on standard input, for connector authors.

use std::io::{Read, Write};
use std::process::ExitCode;

/// Arguments of `crosswalk map`.
#[derive(Debug, clap::Args)]
pub struct MapArgs {
    /// File holding the JSONata expression.
    #[arg(long)]
    pub expr: std::path::PathBuf,
}

/// Runs `crosswalk map`.
pub fn run(
    _args: &MapArgs,
    _stdin: &mut dyn Read,
    _stdout: &mut dyn Write,
    _stderr: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
