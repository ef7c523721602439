//! `crosswalk map`: evaluates a JSONata expression on standard input, for connector authors.
//!
//! The expression runs exactly as a connector's mapping does (same engine, native functions
//! and default limits), on one JSON document or, with `--lines`, on each line of a JSON Lines
//! stream. Results print as compact JSON, one per line; an undefined result prints nothing.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use mapping::{Expr, MappingError, Vars};
use serde_json::Value;

/// Arguments of `crosswalk map`.
#[derive(Debug, clap::Args)]
pub struct MapArgs {
    /// File holding the JSONata expression.
    #[arg(long)]
    pub expr: PathBuf,
    /// JSON file holding an object of variables, bound as `$name` for each of its keys.
    #[arg(long)]
    pub bindings: Option<PathBuf>,
    /// Reads JSON Lines: evaluates each non-blank line on its own and prints one result per
    /// line; a line that fails is reported on standard error and the others go on.
    #[arg(long)]
    pub lines: bool,
}

/// Runs `crosswalk map`.
///
/// # Errors
///
/// An unreadable expression or bindings file, an expression that does not compile, input
/// that is not JSON, or an evaluation error (outside `--lines`, which reports those per line
/// and exits with failure).
pub fn run(
    args: &MapArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let source = fs::read_to_string(&args.expr)
        .with_context(|| format!("reading expression file {}", args.expr.display()))?;
    let expr = Expr::compile(&source).map_err(|error| describe(&error))?;
    let vars = match &args.bindings {
        Some(path) => read_bindings(path)?,
        None => Vars::new(),
    };
    if args.lines {
        return run_lines(&expr, &vars, stdin, stdout, stderr);
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .context("reading standard input")?;
    let input = if text.trim().is_empty() {
        None
    } else {
        Some(
            serde_json::from_str::<Value>(&text)
                .context("standard input is not a JSON document")?,
        )
    };
    let result = expr
        .evaluate(input.as_ref(), &vars)
        .map_err(|error| describe(&error))?;
    write_result(stdout, result.as_ref())?;
    Ok(ExitCode::SUCCESS)
}

fn run_lines(
    expr: &Expr,
    vars: &Vars,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let mut reader = BufReader::new(stdin);
    let mut n_failed = 0_usize;
    let mut bytes = Vec::new();
    for line_number in 1.. {
        bytes.clear();
        let n_read = reader
            .read_until(b'\n', &mut bytes)
            .context("reading standard input")?;
        if n_read == 0 {
            break;
        }
        match evaluate_line(expr, vars, &bytes) {
            Ok(result) => write_result(stdout, result.as_ref())?,
            Err(error) => {
                n_failed += 1;
                writeln!(stderr, "line {line_number}: {error:#}").context("writing errors")?;
            }
        }
    }
    stdout.flush().context("writing results")?;
    Ok(if n_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Evaluates one JSON Lines line; a blank line gives no result.
fn evaluate_line(expr: &Expr, vars: &Vars, bytes: &[u8]) -> anyhow::Result<Option<Value>> {
    let text = std::str::from_utf8(bytes).context("not UTF-8")?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let input: Value = serde_json::from_str(text).context("not a JSON document")?;
    expr.evaluate(Some(&input), vars)
        .map_err(|error| describe(&error))
}

fn read_bindings(path: &Path) -> anyhow::Result<Vars> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("reading bindings file {}", path.display()))?;
    let json: Value = serde_json::from_str(&text)
        .with_context(|| format!("bindings file {} is not JSON", path.display()))?;
    let Value::Object(bindings) = json else {
        bail!(
            "bindings file {} must hold a JSON object of variable names to values",
            path.display()
        );
    };
    Ok(bindings.into_iter().collect())
}

fn write_result(stdout: &mut dyn Write, result: Option<&Value>) -> anyhow::Result<()> {
    if let Some(value) = result {
        serde_json::to_writer(&mut *stdout, value).context("writing the result")?;
        writeln!(stdout).context("writing the result")?;
    }
    Ok(())
}

/// `S0202 at position 4: ...`, the shape connector authors see everywhere.
fn describe(error: &MappingError) -> anyhow::Error {
    match error.position {
        Some(position) => anyhow!("{} at position {position}: {}", error.code, error.message),
        None => anyhow!("{}: {}", error.code, error.message),
    }
}
