//! The `crosswalk` binary: serve, migrate, connectors check, map and demo.
//!
//! Each subcommand lives in its own module; this file only parses arguments and dispatches.

mod map;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Crosswalk: one self-hosted API for every CRM and HRIS.
#[derive(Debug, Parser)]
#[command(name = "crosswalk", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluates a JSONata expression on JSON read from standard input, as connectors do.
    Map(map::MapArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Map(args) => map::run(
            &args,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
